import { existsSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readFixtureFrames } from '../fixture-file/index.js'
import { verifyOps } from '../ingestor/verify/mst-proof.js'
import { readCommit, readSignedFrame, type SignedFrame } from '../ingestor/verify/signed-frame.js'
import type { SignedCommit } from '../protocol/repo-commit.js'
import { verifyOps as atprotoVerifyOps } from './mst-proof-atproto.js'

/**
 * CPU per #commit of the MST half of --verify (every op proven against the signed tree, the ops
 * inverted to prevData, every block read hashed), on every #commit of the fixture:
 * - ours: ingestor/verify/mst-proof.ts (PartialMst on CID bytes, synchronous),
 * - the peer: the same checks through @atproto/repo's MST (bench/mst-proof-atproto.ts, the verifier's previous implementation).
 * Each round reads the frames afresh (untimed, CHUNK at a time), so the blocks are hashed inside
 * the timed part (CarBlocks remembers which blocks it has checked), and times each candidate on
 * them with process.cpuUsage (user + system). Interleaved rounds after a warm-up; no assertions.
 *
 * node dist/bench/mst-proof.js [--rounds N] [--fixture FILE]
 */
const ROOT = fileURLToPath(new URL(existsSync(fileURLToPath(new URL('../../package.json', import.meta.url))) ? '../../' : '../', import.meta.url))
const WARMUP_ROUNDS = 3
/**
 * Frames read ahead of each timed stretch. Small, as in the verifier (frames are checked as they
 * are read): with every frame of the fixture read ahead, each young-generation GC inside the
 * timed part copied all of them and doubled what the cheaper candidate seemed to cost.
 */
const CHUNK = 32

type Verify = (frame: SignedFrame, commit: SignedCommit) => Promise<void>

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const fixture = args.fixture ?? join(ROOT, 'fixtures', 'generated.fixture.gz')
  const frames = (await readFixtureFrames(fixture)).filter((bytes) => readSignedFrame(bytes)?.t === '#commit')
  const inverted = frames.filter((bytes) => (readSignedFrame(bytes) as SignedFrame).prevData !== null).length
  const candidates: { name: string; verify: Verify }[] = [
    { name: 'ours (mst-proof.ts)', verify: verifyOps },
    { name: '@atproto/repo MST (peer)', verify: atprotoVerifyOps },
  ]
  console.log(
    `node ${process.version}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
  console.log(`${fixture}: ${frames.length} #commit frames (${inverted} with prevData), ${args.rounds} rounds after ${WARMUP_ROUNDS} warm-up rounds\n`)
  const cpuMs = candidates.map(() => 0)
  for (let round = 0; round < WARMUP_ROUNDS + args.rounds; round++) {
    for (const [i, { verify }] of candidates.entries()) {
      for (let from = 0; from < frames.length; from += CHUNK) {
        const commits = frames.slice(from, from + CHUNK).map((bytes) => {
          const frame = readSignedFrame(bytes) as SignedFrame
          return { frame, commit: readCommit(frame) }
        })
        const start = process.cpuUsage()
        for (const { frame, commit } of commits) await verify(frame, commit)
        const used = process.cpuUsage(start)
        if (round >= WARMUP_ROUNDS) cpuMs[i]! += (used.user + used.system) / 1000
      }
    }
  }
  const perCommit = cpuMs.map((ms) => ms / (frames.length * args.rounds))
  for (const [i, { name }] of candidates.entries()) {
    const ratio = i === 0 ? '' : `  ours ${(perCommit[i]! / perCommit[0]!).toFixed(1)}x faster`
    console.log(`  ${name.padEnd(28)} ${perCommit[i]!.toFixed(4)} ms CPU per #commit${ratio}`)
  }
  console.log(
    `\nload average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
}

function parseArgs(argv: string[]): { rounds: number; fixture: string | undefined } {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i === -1 ? undefined : argv[i + 1]
  }
  return { rounds: Number(value('--rounds') ?? 10), fixture: value('--fixture') }
}

await main()

import { existsSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { verifyProofs } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { silentLogger } from '../common/logger.js'
import { emptyCounters } from '../ingestor/status.js'
import { createFrameVerifier } from '../ingestor/verify/frame-verifier.js'
import { decodeFrame } from '../protocol/frame.js'
import { decodeEvent } from '../protocol/events.js'
import { readFixtureFrames } from '../fixture-file/index.js'
import { startPlcServer } from './plc-server.js'

/**
 * Cost of --verify per frame, on the main thread, in the same run and on the same frames:
 * - decodeEvent (what every frame costs without --verify; it runs in the decode worker),
 * - FrameVerifier.verify in batches of 500, checks on the main thread (--verify-workers 0; --verify's work: read the signed frame, ECDSA check
 *   with node:crypto, MST proofs and prevData inversion with @atproto/repo's MST; keys from a warm
 *   cache, filled from a local PLC server before timing),
 * - the @atproto/sync path (Firehose parseCommitAuthenticated): @atproto/repo verifyProofs, which
 *   re-reads the CAR and checks the signature with @atproto/crypto; it does no prevData inversion.
 * frames/s is wall-clock over all frames of the fixture (#identity/#account cost the verifier
 * almost nothing; the @atproto/sync path is given the #commit frames only and rated per frame of
 * the whole fixture, so the columns compare like for like).
 *
 * node dist/bench/verify.js [--seconds S] [--fixture FILE]   (no assertions; prints numbers)
 */
const ROOT = fileURLToPath(new URL(existsSync(fileURLToPath(new URL('../../package.json', import.meta.url))) ? '../../' : '../', import.meta.url))
const ROUNDS = 3
const BATCH = 500

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const fixture = args.fixture ?? join(ROOT, 'fixtures', 'generated.fixture.gz')
  const plc = await startPlcServer(fixture)
  if (plc === null) throw new Error(`${fixture} has no .did-docs.json: --verify cannot be measured on it`)
  const frames = await readFixtureFrames(fixture)
  const verifier = createFrameVerifier({ plcUrl: plc.url, didCacheSize: 100_000, didCacheTtlMs: 3_600_000, didTimeoutMs: 5_000, verifyWorkers: 0 }, emptyCounters(), silentLogger)
  const keys = new Map<string, string>()
  try {
    // Warm the cache (and learn the keys for the peer): resolution is measured by the ingest bench.
    for (let i = 0; i < frames.length; i += BATCH) await verifier.verify(frames.slice(i, i + BATCH), () => false)
    for (const bytes of frames) {
      const { header, body } = decodeFrame(bytes)
      if (header.op === 1 && header.t === '#commit' && !keys.has(body.repo as string)) {
        const { resolution } = await verifier.resolver.resolve(body.repo as string)
        if (resolution.kind === 'key') keys.set(body.repo as string, resolution.key.didKey)
      }
    }
    const commits = frames.filter((bytes) => decodeFrame(bytes).header.op === 1 && (decodeFrame(bytes).header as { t: string }).t === '#commit')

    const candidates: { name: string; run: () => Promise<number> }[] = [
      {
        name: 'decodeEvent (verify off)',
        run: async () => {
          for (const bytes of frames) decodeEvent(bytes)
          return frames.length
        },
      },
      {
        name: 'FrameVerifier (--verify)',
        run: async () => {
          let failed = 0
          for (let i = 0; i < frames.length; i += BATCH) failed += (await verifier.verify(frames.slice(i, i + BATCH), () => false))!.filter((v) => v !== null).length
          if (failed > 0) throw new Error(`${failed} frames failed verification`)
          return frames.length
        },
      },
      {
        name: '@atproto/sync path (verifyProofs)',
        run: async () => {
          for (const bytes of commits) await peerVerify(bytes, keys)
          return frames.length
        },
      },
    ]
    console.log(`node ${process.version}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, ${args.seconds} s per measurement, interleaved in ${ROUNDS} rounds`)
    console.log(`${fixture}: ${frames.length} frames (${commits.length} #commit), ${keys.size} accounts\n`)
    const totals = candidates.map(() => ({ frames: 0, ms: 0 }))
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, candidate] of candidates.entries()) {
        const t0 = performance.now()
        while (performance.now() - t0 < (args.seconds * 1000) / ROUNDS) totals[i]!.frames += await candidate.run()
        totals[i]!.ms += performance.now() - t0
      }
    }
    const rate = (i: number): number => (totals[i]!.frames / totals[i]!.ms) * 1000
    for (const [i, candidate] of candidates.entries()) {
      const ratio = i === 1 ? '' : `  FrameVerifier ${(rate(1) / rate(i)).toFixed(2)}x`
      console.log(`  ${candidate.name.padEnd(36)} ${Math.round(rate(i)).toString().padStart(7)} frames/s  ${(1000 / rate(i)).toFixed(3)} ms/frame${ratio}`)
    }
    console.log(`\n--verify adds ${(1000 / rate(1)).toFixed(3)} ms of main-thread CPU per frame: at most ~${Math.round(rate(1))} events/s on one core for verification alone`)
  } finally {
    await verifier.close()
    await plc.close()
  }
}

/** What @atproto/sync's Firehose does per #commit (parseCommitAuthenticated): verifyProofs over the op claims. */
async function peerVerify(bytes: Uint8Array, keys: Map<string, string>): Promise<void> {
  const { body } = decodeFrame(bytes)
  const claims = (body.ops as { action: string; path: string; cid: CID | null }[]).map((op) => {
    const [collection, rkey] = op.path.split('/') as [string, string]
    return { collection, rkey, cid: op.action === 'delete' ? null : op.cid }
  })
  const result = await verifyProofs(body.blocks as Uint8Array, claims, body.repo as string, keys.get(body.repo as string)!)
  if (result.unverified.length > 0) throw new Error(`peer: ${result.unverified.length} unverified ops`)
}

function parseArgs(argv: string[]): { seconds: number; fixture: string | undefined } {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i === -1 ? undefined : argv[i + 1]
  }
  return { seconds: Number(value('--seconds') ?? 15), fixture: value('--fixture') }
}

await main()

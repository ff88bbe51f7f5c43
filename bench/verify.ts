import { fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readFixtureFrames, scanFixture } from '../fixture-file/index.js'
import { activityStats } from '../generator/activity-stats.js'
import { reapOnExit } from '../harness/child-reaper.js'
import { startPlcServer, type PlcServer } from '../harness/plc-server.js'
import { CANDIDATE_LABELS, type CandidateName } from './verify-candidates.js'
import { benchFixture, WARMUP_FIXTURE, ZIPF_FIXTURE } from './verify-fixture.js'
import { classLines, costLines, distributionLines, failureLines, type Rounds } from './verify-report.js'
import type { PassRequest, PassResult, ServedFixture } from './verify-types.js'

/**
 * What --verify costs per event, on the main thread, against named peers in the same run and on
 * the same frames:
 * - decodeEvent alone (what every frame costs without --verify),
 * - FrameVerifier of this build, checks on the main thread (--verify-workers 0), batches of 500,
 * - FrameVerifier of another build (--previous DIR: a built copy of an earlier commit),
 * - the @atproto/sync path: @atproto/repo verifyProofs with @atproto/crypto (no prevData inversion).
 *
 * The fixture (default, --zipf) is generated with the live network's skew: a few very active
 * accounts, most DIDs seen once (verify-fixture.ts; the distribution is printed). Each
 * measurement runs in a fresh process (verify-pass.ts): the JIT is warmed on other accounts'
 * frames, every DID is resolved from a local PLC directory (harness/plc-server.ts), then the
 * fixture is verified once, timed ("cold": each DID's first frame finds no per-key state, as
 * after a restart or for an account seen rarely), then again for --seconds ("warm": every key
 * seen). CPU is process.cpuUsage (user + system) of that process. A second run per verifier
 * times each frame alone, to split the cost between a DID's first frame and its repeats (what
 * per-key precomputation changes). Rounds interleave the candidates.
 *
 * node dist/bench/verify.js [--seconds S] [--fixture FILE] [--zipf | --no-zipf] [--previous DIR] [--rounds N]
 *   --fixture FILE   measure FILE (with FILE.did-docs.json) instead of the generated one
 *   --no-zipf        measure fixtures/generated.fixture.gz (exponent 0.7, 75 accounts: nearly every frame repeats a DID)
 *   --previous DIR   also measure DIR's build (DIR/dist), e.g. a `git archive` of an earlier commit built with tsc
 * (no assertions; prints numbers)
 */
const ROOT = fileURLToPath(new URL(existsSync(fileURLToPath(new URL('../../package.json', import.meta.url))) ? '../../' : '../', import.meta.url))
const PASS_SCRIPT = fileURLToPath(new URL('./verify-pass.js', import.meta.url))

interface Args {
  seconds: number
  fixture: string | undefined
  zipf: boolean
  previous: string | null
  rounds: number
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const log = (line: string): void => console.log(line)
  const fixturePath = args.fixture ?? (args.zipf ? await benchFixture(ZIPF_FIXTURE, log) : join(ROOT, 'fixtures', 'generated.fixture.gz'))
  const warmupPath = await benchFixture(WARMUP_FIXTURE, log)
  const servers: PlcServer[] = []
  try {
    const fixture = await serve(fixturePath, servers)
    const warmup = await serve(warmupPath, servers)
    const stats = activityStats(await readFixtureFrames(fixturePath))
    const manifest = await scanFixture(fixturePath)

    const candidates: CandidateName[] = args.previous === null ? ['decode', 'current', 'atproto'] : ['decode', 'current', 'previous', 'atproto']
    const verifiers = candidates.filter((name) => name === 'current' || name === 'previous')
    console.log(`node ${process.version}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, load average ${loadavg()[0]!.toFixed(1)} at start`)
    console.log(`${fixturePath}`)
    for (const line of distributionLines(stats, manifest.meta)) console.log(line)
    if (args.previous === null) console.log('(no --previous DIR: the previous build is not measured)')
    console.log(`${args.rounds} rounds, each candidate in a fresh process per round; warm passes ${args.seconds} s\n`)

    const batched = new Map<CandidateName, Rounds>(candidates.map((name) => [name, []]))
    const perFrame = new Map<CandidateName, Rounds>(verifiers.map((name) => [name, []]))
    for (let round = 1; round <= args.rounds; round++) {
      for (const name of candidates) {
        const request = { candidate: name, fixture, warmup, previousDir: args.previous, warmSeconds: args.seconds }
        process.stdout.write(`round ${round}: ${CANDIDATE_LABELS[name]}...`)
        batched.get(name)!.push(await runPass({ ...request, mode: 'batched' }))
        if (perFrame.has(name)) perFrame.get(name)!.push(await runPass({ ...request, mode: 'perFrame' }))
        process.stdout.write(' done\n')
      }
    }
    console.log('')
    for (const line of [...failureLines(batched), ...failureLines(perFrame)]) console.log(line)
    for (const line of costLines(batched)) console.log(line)
    console.log('')
    for (const line of classLines(perFrame, batched)) console.log(line)
    console.log(`\nload average ${loadavg()[0]!.toFixed(1)} at the end`)
  } finally {
    await Promise.all(servers.map((server) => server.close()))
  }
}

async function serve(path: string, servers: PlcServer[]): Promise<ServedFixture> {
  const server = await startPlcServer(path)
  if (server === null) throw new Error(`${path} has no .did-docs.json: --verify cannot be measured on it`)
  servers.push(server)
  return { path, plcUrl: server.url }
}

/** One measurement in a child process (verify-pass.ts); its stderr is ours. */
async function runPass(request: PassRequest): Promise<PassResult> {
  const child = fork(PASS_SCRIPT, [JSON.stringify(request)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const reaper = reapOnExit(child)
  try {
    return await new Promise<PassResult>((resolve, reject) => {
      let result: PassResult | null = null
      child.on('message', (message) => (result = message as PassResult))
      child.on('error', reject)
      child.on('close', (code, signal) => (result !== null && code === 0 ? resolve(result) : reject(new Error(`${request.candidate} (${request.mode}) exited with ${signal ?? code} before answering`))))
    })
  } finally {
    reaper.release()
  }
}

function parseArgs(argv: string[]): Args {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i === -1 ? undefined : argv[i + 1]
  }
  const number = (flag: string, fallback: number): number => {
    const n = Number(value(flag) ?? fallback)
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} must be a number >= 0`)
    return n
  }
  const previous = value('--previous') ?? null
  if (previous !== null && !existsSync(join(previous, 'dist', 'ingestor', 'verify', 'frame-verifier.js'))) throw new Error(`--previous ${previous}: no dist/ingestor/verify/frame-verifier.js there (build it first)`)
  return { seconds: number('--seconds', 10), fixture: value('--fixture'), zipf: !argv.includes('--no-zipf'), previous, rounds: Math.max(1, Math.round(number('--rounds', 2))) }
}

await main()

import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { WebSocketServer } from 'ws'
import { startRedis } from '../harness/redis/index.js'
import type { SnapshotPartData } from '../protocol/snapshot-entry.js'
import { DEFAULT_FETCH_LIMITS } from '../repo-sync/fetch-limits.js'
import { DEFAULT_SNAPSHOT_PART_LIMITS } from '../repo-sync/snapshot-parts.js'
import type { SideResult, SideTask } from './backfill-side.js'
import { startFakePds, type ServedRepo } from './fake-pds.js'
import { writeGeneratedRepo, type GeneratedRepoSpec } from './generated-repo.js'
import { flagValue } from './ingest-run.js'
import { mib } from './peak-rss.js'

/**
 * Backfill speed (issue 19; target: at least 20,000 records/s, RSS under 200 MiB): records/s
 * (and MiB/s of CAR) from a PDS on this machine into Redis, ours against a peer in the same run,
 * and the peak RSS and CPU of each. Set-up: a redis-server of its own (no persistence), `--repos` generated repos of
 * `--records-per-repo` likes and follows (seeded; the generator's identities, MST builder and
 * signing) written as CAR files and served by a fake PDS (bench/fake-pds.ts: listRepos,
 * getRepo streamed from the files), and a relay that accepts and sends nothing.
 * - ours: the ingestor library (per-repo state, `resyncFrom` the fake PDS) and the backfill's
 *   listing side (`firehose backfill --all`), in a child process (bench/backfill-side.ts); timed
 *   from the start of runBackfill to its return (every repo done). That includes the wait for the
 *   ingestor's backfill feed, which reads the markers every second (`backfillPollMs`, as
 *   deployed); "first to last entry" (the stream ids' times) leaves it out.
 * - peer: @atproto/repo (bench/backfill-peer.ts: whole CAR in memory, readCarWithRoot, MST walk,
 *   getAndParseRecord, lexToJson) writing the same snapshot entries with pipelined XADDs, in a
 *   child process; timed from its listRepos to its last XADD answered.
 * Both fetch 2 repos at a time from the one host (the ingestor's default per host). Each side
 * writes its own stream of the same Redis; both streams are read back afterwards and compared:
 * the same records, each repo's in the same order, must come out. Then one big repo of about
 * `--big-mib` MiB of CAR (~4 KB text records; 0 skips it), ours alone, and the peer when the
 * machine's free memory holds it several times over.
 * RSS: sampled every 20 ms in each child, from the start of the backfill (the ingestor already
 * running) to its end; absolute, with the level before.
 *
 * node dist/bench/backfill.js [--repos N] [--records-per-repo M] [--big-mib S] [--seed N]
 *   (no assertions; prints numbers). Defaults: 40 repos x 5,000 records, a big repo of 500 MiB
 *   (generated in ~30 s on a 2-core VM; the whole run takes ~4 min); `--repos 0` runs the big
 *   repo alone, `--big-mib 0` skips it.
 */
const argv = process.argv.slice(2)
const REPOS = Number(flagValue(argv, '--repos') ?? 40)
const RECORDS_PER_REPO = Number(flagValue(argv, '--records-per-repo') ?? 5_000)
const BIG_MIB = Number(flagValue(argv, '--big-mib') ?? 500)
const SEED = Number(flagValue(argv, '--seed') ?? 1)
/** Bytes of CAR per ~4 KB text record (text, CBOR, CID, MST entry): sizes the big repo. */
const BIG_RECORD_CAR_BYTES = 4_200
const SIDE = fileURLToPath(new URL('./backfill-side.js', import.meta.url))
const TARGET = { recordsPerSec: 20_000, rssBytes: 200 * 1024 * 1024 }

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'backfill-bench-'))
  try {
    console.log(
      `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${mib(totalmem())} RAM, Node ${process.version}; seed ${SEED}; ` +
        `both sides fetch ${DEFAULT_FETCH_LIMITS.maxPerHost} repos at a time from the one host (the ingestor's default getRepo per host); ` +
        `parts of ${DEFAULT_SNAPSHOT_PART_LIMITS.maxRecords} records or ${mib(DEFAULT_SNAPSHOT_PART_LIMITS.maxBytes)} of ops JSON`,
    )
    // Generated before any server starts: the generator holds the event loop for seconds at a time.
    const many = await generate(
      dir,
      Array.from({ length: REPOS }, (_, index) => ({ seed: SEED, index, records: RECORDS_PER_REPO, kind: 'social' })),
    )
    const big = BIG_MIB > 0 ? await generate(dir, [{ seed: SEED, index: REPOS, records: Math.max(1, Math.round((BIG_MIB * 1024 * 1024) / BIG_RECORD_CAR_BYTES)), kind: 'long-text' }]) : []
    const redis = await startRedis({ kind: 'process', persistence: 'none' })
    const admin = new Redis(redis.url)
    const relay = await startIdleRelay()
    const target = { admin, redisUrl: redis.url, relayUrl: relay.url }
    try {
      if (many.length > 0) await compare(`${REPOS} repos x ${RECORDS_PER_REPO} records (likes and follows)`, many, target, true)
      if (big.length > 0) {
        // The peer holds the CAR (twice while it arrives), its blocks and each record's JSON.
        const peerFits = freemem() > 4 * big[0]!.bytes + 1024 ** 3
        if (!peerFits) console.log(`peer skipped for the big repo: ${mib(freemem())} free is under 4x its CAR + 1 GiB`)
        await compare(`1 big repo of ${big[0]!.records} records of ~4 KB text`, big, target, peerFits)
      }
    } finally {
      admin.disconnect()
      await relay.close()
      await redis.stop()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** A generated repo on the fake PDS. */
type BenchRepo = ServedRepo & { records: number }

interface Target {
  admin: Redis
  redisUrl: string
  relayUrl: string
}

async function generate(dir: string, specs: GeneratedRepoSpec[]): Promise<BenchRepo[]> {
  if (specs.length === 0) return []
  const started = performance.now()
  const repos: BenchRepo[] = []
  for (const spec of specs) {
    const file = join(dir, `${spec.index}.car`)
    repos.push({ file, ...(await writeGeneratedRepo(file, spec)) })
  }
  const records = specs.reduce((sum, spec) => sum + spec.records, 0)
  console.log(`generated ${repos.length} repos, ${records} records, CAR ${mib(repos.reduce((sum, repo) => sum + repo.bytes, 0))} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return repos
}

/** Ours, then the peer (if `withPeer`), on the same fake PDS and Redis; the streams read back and compared. */
async function compare(label: string, repos: readonly BenchRepo[], target: Target, withPeer: boolean): Promise<void> {
  const pds = await startFakePds(repos)
  const expected = repos.reduce((sum, repo) => sum + repo.records, 0)
  try {
    console.log(`\n== ${label}: ${expected} records, CAR ${mib(repos.reduce((sum, repo) => sum + repo.bytes, 0))}; load average ${loadAverage()}`)
    const ours = await runSide('ours', pds.url, target)
    const peer = withPeer ? await runSide('peer', pds.url, target) : null
    const carBytes = repos.reduce((sum, repo) => sum + repo.bytes, 0)
    console.log(line('ours: ingestor + firehose backfill', ours, carBytes))
    if (peer !== null) {
      console.log(line('peer: @atproto/repo + XADD', peer, carBytes))
      console.log(
        `ratio ours/peer: records/s ${(rate(ours) / rate(peer)).toFixed(2)}x, peak RSS ${(ours.result.peakRss / peer.result.peakRss).toFixed(2)}x, CPU ${(ours.result.cpuSeconds / peer.result.cpuSeconds).toFixed(2)}x, CPU with Redis's ${(cpuWithRedis(ours) / cpuWithRedis(peer)).toFixed(2)}x`,
      )
    }
    console.log(
      `target (>= ${TARGET.recordsPerSec} records/s, RSS < ${mib(TARGET.rssBytes)}): ours ${rate(ours) >= TARGET.recordsPerSec ? 'meets' : 'MISSES'} the speed, ${ours.result.peakRss < TARGET.rssBytes ? 'meets' : 'MISSES'} the memory`,
    )
    console.log(`load average at the end: ${loadAverage()} (on ${cpus().length} cores; other work on the machine slows both sides)`)
    const sides = peer === null ? [ours] : [ours, peer]
    const counts = sides.map((side) => `${side.name} ${side.result.records} counted, ${side.stream.records} in the stream (${side.stream.repos} repos)`).join('; ')
    const same = sides.every((side) => side.result.records === expected && side.stream.records === expected && side.stream.repos === repos.length && side.stream.digest === ours.stream.digest)
    console.log(`check: ${expected} records expected; ${counts}: ${same ? 'all equal, and the same records in the same order per repo' : 'DIFFERENT'}`)
  } finally {
    await pds.close()
  }
}

interface SideRun {
  name: 'ours' | 'peer'
  result: SideResult
  stream: StreamSummary
  redisCpuSeconds: number
}

/** One side in its child process, on a stream of its own, which is read back and deleted afterwards. */
async function runSide(side: 'ours' | 'peer', pdsUrl: string, target: Target): Promise<SideRun> {
  const stream = `bench:backfill:${Date.now()}:${side}`
  const task: SideTask = { side, redisUrl: target.redisUrl, relayUrl: target.relayUrl, pdsUrl, stream }
  const redisCpu0 = await redisCpuSeconds(target.admin)
  const child = spawn(process.execPath, [...process.execArgv, '--expose-gc', SIDE, JSON.stringify(task)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`${side} exited with ${code}: ${out}`)
  const redisCpu = (await redisCpuSeconds(target.admin)) - redisCpu0
  const result = JSON.parse(out.trim().split('\n').pop()!) as SideResult
  const summary = await summarize(target.admin, stream)
  await target.admin.del(stream)
  return { name: side, result, stream: summary, redisCpuSeconds: redisCpu }
}

const loadAverage = (): string =>
  loadavg()
    .map((load) => load.toFixed(1))
    .join(' ')
const rate = (run: SideRun): number => run.result.records / run.result.seconds
const cpuWithRedis = (run: SideRun): number => run.result.cpuSeconds + run.redisCpuSeconds

function line(name: string, run: SideRun, carBytes: number): string {
  const { result, stream } = run
  return (
    `${name.padEnd(36)} ${result.records} records in ${result.seconds.toFixed(2)} s = ${Math.round(rate(run))} records/s, ${mib(carBytes / result.seconds)}/s of CAR ` +
    `(first to last entry ${stream.spanSeconds.toFixed(2)} s); peak RSS ${mib(result.peakRss)} (${mib(result.baseRss)} before; at the peak JS heap ${mib(result.peakHeap)}, buffers ${mib(result.peakBuffers)}); ` +
    `CPU ${result.cpuSeconds.toFixed(1)} s (${Math.round(result.records / result.cpuSeconds)} records per CPU second), Redis CPU ${run.redisCpuSeconds.toFixed(1)} s${result.failing > 0 ? `; ${result.failing} repos FAILING` : ''}`
  )
}

interface StreamSummary {
  entries: number
  /** Snapshots ended. */
  repos: number
  records: number
  /** Of every record's op JSON, each repo's in stream order, repos in DID order. */
  digest: string
  /** From the first entry's id time to the last's. */
  spanSeconds: number
}

/** Entries read back at a time (a part is at most 1 MiB). */
const READ_COUNT = 64

/** What a side wrote, read back: snapshot ends, records (part ops) and a digest of them. */
async function summarize(admin: Redis, stream: string): Promise<StreamSummary> {
  const hashes = new Map<string, ReturnType<typeof createHash>>()
  let entries = 0
  let repos = 0
  let records = 0
  let firstMs: number | null = null
  let lastMs = 0
  for (let from = '-'; ;) {
    const page = await admin.xrange(stream, from, '+', 'COUNT', READ_COUNT)
    for (const [id, fields] of page) {
      entries++
      const ms = Number(id.split('-')[0])
      firstMs ??= ms
      lastMs = ms
      const data = JSON.parse(fields[3]!) as Partial<SnapshotPartData> & { phase?: string }
      if (fields[1] === 'snapshot' && data.phase === 'end') repos++
      if (fields[1] !== 'commit' || data.ops === undefined) continue
      const hash = hashes.get(data.repo!) ?? createHash('sha256')
      hashes.set(data.repo!, hash)
      for (const op of data.ops) hash.update(JSON.stringify(op))
      records += data.ops.length
    }
    if (page.length < READ_COUNT) break
    from = `(${page[page.length - 1]![0]}`
  }
  const digest = createHash('sha256')
  for (const did of [...hashes.keys()].sort()) digest.update(`${did} ${hashes.get(did)!.digest('hex')}\n`)
  return { entries, repos, records, digest: digest.digest('hex'), spanSeconds: ((firstMs === null ? 0 : lastMs - firstMs) || 0) / 1000 }
}

/** used_cpu_user + used_cpu_sys of the redis-server, in seconds. */
async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu')
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1])
  return field('used_cpu_user') + field('used_cpu_sys')
}

/** A relay that accepts subscribeRepos and sends nothing: the ingestor runs as deployed and only backfills. */
async function startIdleRelay(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/xrpc/com.atproto.sync.subscribeRepos' })
  await new Promise<void>((resolve) => server.once('listening', resolve))
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/xrpc/com.atproto.sync.subscribeRepos`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate()
        server.close(() => resolve())
      }),
  }
}

await main()

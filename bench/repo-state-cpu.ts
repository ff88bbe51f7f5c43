import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { repoStateKeyOf } from '../common/contract.js'
import { scanFixture } from '../fixture-file/index.js'
import { generateFixture } from '../generator/index.js'
import { freePort } from '../harness/free-port.js'
import { IngestorProcess } from '../harness/ingestor-process.js'
import { startRedis } from '../harness/redis/index.js'
import { waitUntil } from '../harness/wait.js'
import { startReplay } from '../replay/index.js'
import { cpuMs, flagValue, formatRun, ingestorOptions, type Run } from './ingest-run.js'

/**
 * The cost of per-repo state (issue 18, target: at most 1.3x the CPU): `firehose ingest
 * --repo-state` against its peer, the same build without the flag, alternated round by round in
 * one run (the order flips every round). Each run: a fresh redis-server (no persistence), the
 * replay server (this process) publishing a `--from-creation` fixture once at max rate (every
 * repo exportable, so a resync could be served; a clean relay: no frame lost, so what is measured
 * is the steady-state cost of the rules and the state writes), the ingestor CLI as a child
 * process from cursor 0. Timed from the first stream entry until the stored cursor reaches the
 * fixture's last seq; events = relay frames consumed in that time (the cursor's advance), the same
 * for both variants although `--repo-state` publishes no `#sync`. CPU of the ingestor from
 * /proc/<pid>/stat (all threads), of Redis from INFO CPU (used_cpu_user + used_cpu_sys); max RSS
 * sampled every 100 ms. After each `--repo-state` run: the per-repo counters from /metrics (a
 * desync, resync or dead letter means the run was not the steady state) and the state hash's
 * memory (MEMORY USAGE, exact) per DID. No assertions: it prints numbers.
 *
 * node dist/bench/repo-state-cpu.js [--rounds N] [--events N] [--fixture FILE] [--seed N] [--cache-size N]
 *   --events N: generate a fixture of N frames (default 30,000; 400-1,100 frames/s on 2 shared cores);
 *   --fixture FILE: use FILE instead (generated with --from-creation, so a resync can be served);
 *   --cache-size N: `--repo-state-cache-size N` (default the ingestor's): below the fixture's DIDs,
 *   states are read from Redis again as on a network with more DIDs than the cache holds.
 */
const argv = process.argv.slice(2)
const ROUNDS = Number(flagValue(argv, '--rounds') ?? 3)
const EVENTS = Number(flagValue(argv, '--events') ?? 30_000)
const SEED = Number(flagValue(argv, '--seed') ?? 1)
const FIXTURE = flagValue(argv, '--fixture')
const CACHE_SIZE = flagValue(argv, '--cache-size')
const KEYS = { stream: 'bench:repo-state:events', cursorKey: 'bench:repo-state:cursor' }
/** A run that has not finished in this time is reported as failed (the ingestor stuck or dead). */
const RUN_TIMEOUT_MS = 30 * 60_000

interface Variant {
  name: string
  repoState: boolean
}

const VARIANTS: readonly Variant[] = [
  { name: 'peer: without --repo-state', repoState: false },
  { name: 'with --repo-state', repoState: true },
]

/** Per-repo counters that are not 0 on a clean relay. */
const UNCLEAN = ['repo_stale_revs', 'repo_future_revs', 'repo_invalid_revs', 'repo_desync_since', 'repo_desync_prev_data', 'repo_dropped_desynchronized', 'repo_held', 'resyncs_started', 'dead_lettered']

interface RoundRun extends Run {
  variant: Variant
  /** Entries in the stream at the end. */
  entries: number
  /** `--repo-state` only: the state hash's DIDs, MEMORY USAGE and encoding. */
  state: { dids: number; bytes: number; encoding: string } | null
  /** `--repo-state` only: the per-repo counters (`firehose_<name>_total`) that are not 0. */
  counters: Record<string, number>
}

async function main(): Promise<void> {
  const dir = FIXTURE === undefined ? await mkdtemp(join(tmpdir(), 'bench-repo-state-')) : null
  try {
    const fixture = FIXTURE ?? join(dir!, 'from-creation.fixture.gz')
    if (FIXTURE === undefined) {
      const started = performance.now()
      await generateFixture({ out: fixture, events: EVENTS, seed: SEED, fromCreation: true })
      console.log(`generated ${fixture}: ${EVENTS} frames --from-creation, seed ${SEED}, in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    }
    const manifest = await scanFixture(fixture)
    if (manifest.lastSeq === null) throw new Error(`${fixture} has no sequenced frame`)
    console.log(`fixture: ${fixture}, ${manifest.frameCount} frames ${JSON.stringify(manifest.countsByType)}, seq ${manifest.firstSeq}..${manifest.lastSeq}`)

    const runs: RoundRun[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()
      for (const variant of order) {
        const run = await measure(variant, fixture, manifest.lastSeq)
        runs.push(run)
        console.log(`round ${round + 1}: ${formatRun(run)}`)
      }
    }
    report(runs, manifest.frameCount)
  } finally {
    if (dir !== null) await rm(dir, { recursive: true, force: true })
  }
}

/** One ingest of the whole fixture, on a fresh redis-server and a fresh replay. */
async function measure(variant: Variant, fixture: string, lastSeq: number): Promise<RoundRun> {
  const redis = await startRedis({ kind: 'process', persistence: 'none' })
  const relay = await startReplay({ files: [fixture], rate: { mode: 'max' }, start: 'first-client' })
  const client = new Redis(redis.url)
  try {
    const healthPort = await freePort()
    const repoState = ['--allow-private-hosts', '--plc-url', relay.plcUrl, ...(CACHE_SIZE === undefined ? [] : ['--repo-state-cache-size', CACHE_SIZE])]
    const extra = ['--health-port', String(healthPort), ...(variant.repoState ? repoState : [])]
    const consumer = IngestorProcess.start({ ...ingestorOptions(`${relay.url}?cursor=0`, redis.url, KEYS, extra), repoState: variant.repoState })
    /** The stored cursor; throws with the ingestor's log tail once it has exited. */
    const cursor = async (): Promise<number> => {
      if (consumer.exit !== null) throw consumer.failure('exited during the run')
      return Number((await client.get(KEYS.cursorKey)) ?? 0)
    }
    try {
      // From the first write (the cursor is stored with the entries), so process start-up is not counted.
      await waitUntil(async () => (await cursor()) > 0, { what: `${variant.name}: the first entry`, timeoutMs: 60_000, intervalMs: 5 })
      const t0 = performance.now()
      const [consumer0, redis0, cursor0] = await Promise.all([cpuMs(consumer.pid), redisCpuMs(client), cursor()])
      const replay0 = process.cpuUsage()
      await waitUntil(async () => (await cursor()) >= lastSeq, { what: `${variant.name}: cursor ${lastSeq}`, timeoutMs: RUN_TIMEOUT_MS, intervalMs: 20 })
      const seconds = (performance.now() - t0) / 1000
      const [consumer1, redis1] = await Promise.all([cpuMs(consumer.pid), redisCpuMs(client)])
      const replay = process.cpuUsage(replay0)
      const events = lastSeq - cursor0
      const per1k = (ms: number): number => Math.round((ms * 10_000) / events) / 10
      const counters = variant.repoState ? await repoCounters(healthPort) : {}
      const state = variant.repoState ? await stateMemory(client) : null
      return {
        name: variant.name,
        variant,
        events,
        seconds,
        eventsPerSec: Math.round(events / seconds),
        maxRssMb: consumer.maxRssMb,
        consumerCpuMsPer1k: per1k(consumer1 - consumer0),
        redisCpuMsPer1k: per1k(redis1 - redis0),
        replayCpuPercent: Math.round((replay.user + replay.system) / 10 / (seconds * 1000)),
        entries: await client.xlen(KEYS.stream),
        state,
        counters,
      }
    } finally {
      await consumer.stop()
    }
  } finally {
    client.disconnect()
    await relay.close()
    await redis.stop()
  }
}

/** used_cpu_user + used_cpu_sys of the redis-server, in ms (INFO CPU: microsecond resolution). */
async function redisCpuMs(client: Redis): Promise<number> {
  const info = await client.info('cpu')
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1])
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000
}

/** The per-repo counters of /metrics (`firehose_<name>_total`) that are not 0. */
async function repoCounters(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const counters: Record<string, number> = {}
  for (const [, name, value] of text.matchAll(/^firehose_((?:repo_|resyncs_|snapshot_|dead_lettered)\w*)_total (\d+)$/gm)) {
    if (Number(value) !== 0) counters[name!] = Number(value)
  }
  return counters
}

async function stateMemory(client: Redis): Promise<{ dids: number; bytes: number; encoding: string }> {
  const key = repoStateKeyOf(KEYS.stream)
  const [dids, bytes, encoding] = await Promise.all([client.hlen(key), client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0') as Promise<number | null>, client.object('ENCODING', key) as Promise<string | null>])
  return { dids, bytes: bytes ?? 0, encoding: encoding ?? '?' }
}

function report(runs: RoundRun[], frames: number): void {
  const median = (values: readonly number[]): number => {
    const sorted = [...values].sort((a, b) => a - b)
    const middle = sorted.length / 2
    return sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  }
  const summary = (values: readonly number[], digits = 1): string => `${median(values).toFixed(digits)} [${values.map((v) => v.toFixed(digits)).join(', ')}]`
  const of = (variant: Variant): RoundRun[] => runs.filter((run) => run.variant === variant)
  const both = (run: RoundRun): number => run.consumerCpuMsPer1k + run.redisCpuMsPer1k

  console.log(
    `\nload average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; cores: ${availableParallelism()}; ${ROUNDS} rounds alternated, ${frames} frames per run, --repo-state-cache-size ${CACHE_SIZE ?? 'default'}`,
  )
  console.log('median [each round]')
  console.log(`${'variant'.padEnd(28)} | events/s | consumer CPU ms / 1000 events | Redis CPU ms / 1000 events | max RSS MiB | stream entries`)
  for (const variant of VARIANTS) {
    const mine = of(variant)
    console.log(
      `${variant.name.padEnd(28)} | ${summary(
        mine.map((r) => r.eventsPerSec),
        0,
      )} | ${summary(mine.map((r) => r.consumerCpuMsPer1k))} | ${summary(mine.map((r) => r.redisCpuMsPer1k))} | ${summary(mine.map((r) => r.maxRssMb ?? Number.NaN))} | ${mine[0]!.entries}`,
    )
  }

  // Each round pairs its two runs: ratios per round, then their median.
  const [off, on] = [of(VARIANTS[0]!), of(VARIANTS[1]!)]
  const ratios = (value: (run: RoundRun) => number): string =>
    summary(
      on.map((run, i) => value(run) / value(off[i]!)),
      2,
    )
  console.log(`\nratio with / without --repo-state (per round, same run; CPU target <= 1.3x):`)
  console.log(`  consumer CPU per event ${ratios((r) => r.consumerCpuMsPer1k)}`)
  console.log(`  Redis CPU per event    ${ratios((r) => r.redisCpuMsPer1k)}`)
  console.log(`  both per event         ${ratios(both)}`)
  console.log(`  events/s               ${ratios((r) => r.eventsPerSec)}`)
  console.log(`  max RSS                ${ratios((r) => r.maxRssMb ?? Number.NaN)}`)

  const last = on[on.length - 1]!
  if (last.state !== null) {
    const { dids, bytes, encoding } = last.state
    console.log(`\nstate hash ${repoStateKeyOf(KEYS.stream)} after the run: ${dids} DIDs, ${bytes} bytes (MEMORY USAGE, ${encoding}), ${(bytes / dids).toFixed(1)} bytes per DID`)
  }
  for (const [i, run] of on.entries()) {
    const unclean = UNCLEAN.filter((name) => (run.counters[name] ?? 0) > 0)
    console.log(`--repo-state run ${i + 1} counters: ${JSON.stringify(run.counters)}${unclean.length === 0 ? ' (clean: no desync, resync, stale rev or dead letter)' : `  NOT THE STEADY STATE: ${unclean.join(', ')}`}`)
  }
}

await main()

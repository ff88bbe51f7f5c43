import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { IngestorProcess, ingestArgs, type IngestorProcessOptions } from '../harness/ingestor-process.js'
import { startRedis, type RedisHandle } from '../harness/redis/index.js'
import { sleep } from '../harness/wait.js'
import { FixtureWriter, openFixture } from '../protocol/fixture/index.js'
import { startReplay, withSeq } from '../replay/index.js'
import { startPlcServer } from './plc-server.js'

/**
 * Ingest throughput, end to end: the replay server (this process, --max, looping the
 * committed fixture) -> consumer child process -> local redis-server. Consumers, measured in
 * the same run on the same data: the ingestor (worker-thread decode), the ingestor decoding on
 * its main thread, and the naive peer (bench/naive-consumer.ts: one awaited XADD per event).
 * Then RSS of the ingestor while Redis is stopped (SIGSTOP) for --pause-seconds under load.
 *
 * With --baseline DIR, also the ingestor of another built checkout (e.g. `git archive <commit>`
 * unpacked and built there), so a change is compared with its baseline in the same run.
 *
 * node dist/bench/ingest.js [--events N] [--pause-seconds S] [--fixture FILE] [--baseline DIR]
 */
const root = fileURLToPath(new URL(existsSync(fileURLToPath(new URL('../../package.json', import.meta.url))) ? '../../' : '../', import.meta.url))
const args = parseArgs(process.argv.slice(2))

interface Run {
  name: string
  events: number
  seconds: number
  eventsPerSec: number
  maxRssMb: number | null
  /** CPU time (user + system, all threads) per 1000 events: comparable even on a loaded machine. */
  consumerCpuMsPer1k: number
  redisCpuMsPer1k: number
  /** CPU share of one core used by this process (the replay server) during the run: near 100% means the relay was the limit. */
  replayCpuPercent: number
}

async function main(): Promise<void> {
  const fixture = await benchFixture(args.fixture)
  const redis = await startRedis({ kind: 'process', persistence: 'none' })
  const runs: Run[] = []
  try {
    runs.push(await measure('ingestor (1 decode worker, default)', fixture, redis, (relay, keys) => ingestorChild(relay, redis.url, keys, [])))
    runs.push(await measure('ingestor (2 decode workers)', fixture, redis, (relay, keys) => ingestorChild(relay, redis.url, keys, ['--decode-workers', '2'])))
    runs.push(await measure('ingestor (main-thread decode)', fixture, redis, (relay, keys) => ingestorChild(relay, redis.url, keys, ['--decode-workers', '0'])))
    // --verify against a local PLC directory serving the fixture's DID documents (docs/verify.md).
    const plc = await startPlcServer(fixture.path)
    if (plc !== null) {
      runs.push(await measure('ingestor --verify (1 verify worker)', fixture, redis, (relay, keys) => ingestorChild(relay, redis.url, keys, ['--verify', '--plc-url', plc.url])))
      runs.push(await measure('ingestor --verify (2 verify workers)', fixture, redis, (relay, keys) => ingestorChild(relay, redis.url, keys, ['--verify', '--plc-url', plc.url, '--verify-workers', '2'])))
      runs.push(await measure('ingestor --verify (main-thread checks)', fixture, redis, (relay, keys) => ingestorChild(relay, redis.url, keys, ['--verify', '--plc-url', plc.url, '--verify-workers', '0'])))
      await plc.close()
    }
    runs.push(await measure('naive peer (awaited XADD per event)', fixture, redis, (relay, keys) => naiveChild(relay, redis.url, keys)))
    if (args.baseline !== undefined) {
      const cli = join(args.baseline, 'dist/cli/index.js')
      runs.push(await measure(`baseline build ${args.baseline} (1 worker)`, fixture, redis, (relay, keys) => spawnConsumer(cli, ingestArgs(ingestorOptions(relay, redis.url, keys, [])))))
    }
    const paused = args.pauseSeconds > 0 ? await pausedRedisRss(fixture, redis, args.pauseSeconds) : null

    const ingestor = runs[0]!
    console.log(`\nload average at the end: ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`)
    console.log(`fixture: ${fixture.path}${fixture.synthesized ? ' (synthesized from test/data/real: the committed fixture is missing)' : ''}`)
    console.log(`events per run: ${args.events}, cores: ${(await import('node:os')).availableParallelism()}`)
    for (const run of runs) {
      console.log(
        `${run.name.padEnd(40)} ${String(run.eventsPerSec).padStart(7)} events/s  ${run.seconds.toFixed(2)} s  max RSS ${run.maxRssMb ?? '?'} MiB  ` +
          `CPU per 1000 events: consumer ${run.consumerCpuMsPer1k} ms, redis ${run.redisCpuMsPer1k} ms; replay server ${run.replayCpuPercent}% of a core`,
      )
    }
    for (const run of runs.slice(1)) {
      console.log(
        `ratio ${ingestor.name} / ${run.name}: ${(ingestor.eventsPerSec / run.eventsPerSec).toFixed(2)}x events/s, ` +
          `${((run.consumerCpuMsPer1k + run.redisCpuMsPer1k) / (ingestor.consumerCpuMsPer1k + ingestor.redisCpuMsPer1k)).toFixed(2)}x less CPU (consumer + redis) per event`,
      )
    }
    if (paused) {
      console.log(`Redis SIGSTOPped ${args.pauseSeconds} s under load: ingestor RSS before ${paused.rssBeforeMb} MiB, max during ${paused.maxRssDuringMb} MiB; ` +
        `queue ${paused.queueFrames} frames; after SIGCONT: ${paused.recovered ? 'caught up, stream checked in order without duplicates' : 'DID NOT RECOVER'}`)
    }
  } finally {
    await redis.stop()
    if (fixture.synthesized) await rm(fixture.path, { force: true })
  }
}

type Keys = { stream: string; cursorKey: string }
type Consumer = { pid: number | undefined; maxRssMb: () => number | null; stop: () => Promise<void> }

async function measure(name: string, fixture: { path: string }, redis: RedisHandle, start: (relayUrl: string, keys: Keys) => Consumer): Promise<Run> {
  const keys = { stream: `bench:${Date.now()}:events`, cursorKey: `bench:${Date.now()}:cursor` }
  const relay = await startReplay({ files: [fixture.path], loop: true, rate: { mode: 'max' }, start: 'first-client' })
  const client = new Redis(redis.url)
  const redisPid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1])
  try {
    const consumer = start(`${relay.url}?cursor=0`, keys)
    // Time from the first entry to the target, so process start-up is not counted.
    while ((await client.xlen(keys.stream)) === 0) await sleep(5)
    const t0 = performance.now()
    const first = await client.xlen(keys.stream)
    const cpu0 = [await cpuMs(consumer.pid), await cpuMs(redisPid)]
    const replayCpu0 = process.cpuUsage()
    let length = 0
    while ((length = await client.xlen(keys.stream)) < args.events) await sleep(20)
    const seconds = (performance.now() - t0) / 1000
    const cpu1 = [await cpuMs(consumer.pid), await cpuMs(redisPid)]
    const replayCpu = process.cpuUsage(replayCpu0)
    const replayCpuPercent = Math.round((replayCpu.user + replayCpu.system) / 10 / (seconds * 1000))
    await consumer.stop()
    const per1k = (i: number): number => Math.round(((cpu1[i]! - cpu0[i]!) * 1000) / (length - first))
    return { name, events: length, seconds, eventsPerSec: Math.round((length - first) / seconds), maxRssMb: consumer.maxRssMb(), consumerCpuMsPer1k: per1k(0), redisCpuMsPer1k: per1k(1), replayCpuPercent }
  } finally {
    await relay.close()
    await client.del(keys.stream, keys.cursorKey, `${keys.stream}:dead`)
    client.disconnect()
  }
}

function ingestorOptions(relayUrl: string, redisUrl: string, keys: Keys, extra: string[]): IngestorProcessOptions {
  const url = new URL(relayUrl)
  const cursor = url.searchParams.get('cursor') ?? '0'
  url.searchParams.delete('cursor')
  return { relayUrl: url.toString(), redisUrl, ...keys, args: ['--cursor', cursor, '--status-interval', '1', ...extra], env: { FIREHOSE_LOG_LEVEL: 'warn', NODE_OPTIONS: SHIPPED_NODE_OPTIONS } }
}

/** The node flags the `firehose` bin (shebang) and the Docker image run the ingestor with. */
const SHIPPED_NODE_OPTIONS = '--max-semi-space-size=4'

function ingestorChild(relayUrl: string, redisUrl: string, keys: Keys, extra: string[]): Consumer {
  const child = IngestorProcess.start(ingestorOptions(relayUrl, redisUrl, keys, extra))
  return {
    pid: child.pid,
    maxRssMb: () => child.maxRssMb,
    stop: async () => {
      await child.stop()
    },
  }
}

function naiveChild(relayUrl: string, redisUrl: string, keys: Keys): Consumer {
  return spawnConsumer(join(root, 'dist/bench/naive-consumer.js'), [relayUrl, redisUrl, keys.stream, keys.cursorKey])
}

/** A consumer script as a child process, its RSS sampled from /proc. */
function spawnConsumer(script: string, argv: string[]): Consumer {
  const child = spawn(process.execPath, [script, ...argv], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, FIREHOSE_LOG_LEVEL: 'warn' } })
  let max: number | null = null
  const timer = setInterval(() => {
    void rssMb(child.pid).then((mb) => {
      if (mb !== null) max = Math.max(max ?? 0, mb)
    })
  }, 100)
  return {
    pid: child.pid,
    maxRssMb: () => max,
    stop: async () => {
      clearInterval(timer)
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    },
  }
}

/** Ingestor under load, Redis SIGSTOPped: RSS must stay flat (the queue is bounded, the relay socket paused). */
async function pausedRedisRss(fixture: { path: string }, redis: RedisHandle, seconds: number) {
  const keys = { stream: `bench:${Date.now()}:pause`, cursorKey: `bench:${Date.now()}:pause-cursor` }
  const relay = await startReplay({ files: [fixture.path], loop: true, rate: { mode: 'max' }, start: 'first-client' })
  const client = new Redis(redis.url)
  const redisPid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1])
  const child = IngestorProcess.start({ relayUrl: relay.url, redisUrl: redis.url, ...keys, args: ['--cursor', '0', '--status-interval', '1', '--health-port', '0'], env: { FIREHOSE_LOG_LEVEL: 'info', NODE_OPTIONS: SHIPPED_NODE_OPTIONS } })
  try {
    while ((await client.xlen(keys.stream)) < 20_000) await sleep(20)
    const rssBeforeMb = child.maxRssMb
    process.kill(redisPid, 'SIGSTOP')
    child.maxRssMb = 0
    let statusLine: Record<string, unknown> | undefined
    const until = Date.now() + seconds * 1000
    while (Date.now() < until) {
      await sleep(1000)
      statusLine = [...child.logs].reverse().find((r) => r.msg === 'status')
    }
    const maxRssDuringMb = child.maxRssMb
    process.kill(redisPid, 'SIGCONT')
    const lengthAfter = await client.xlen(keys.stream)
    const deadline = Date.now() + 30_000
    let recovered = false
    while (Date.now() < deadline && !recovered) {
      recovered = (await client.xlen(keys.stream)) > lengthAfter + 20_000
      await sleep(50)
    }
    await child.stop()
    recovered &&= await inOrderWithoutDuplicates(client, keys.stream)
    return { rssBeforeMb, maxRssDuringMb, queueFrames: statusLine?.queueFrames ?? '?', recovered }
  } finally {
    await relay.close()
    await client.del(keys.stream, keys.cursorKey, `${keys.stream}:dead`)
    client.disconnect()
  }
}

async function inOrderWithoutDuplicates(client: Redis, stream: string): Promise<boolean> {
  let previous = -1
  let start = '-'
  for (;;) {
    const page = await client.xrange(stream, start, '+', 'COUNT', 5000)
    for (const [, fields] of page) {
      const seq = Number(fields[5])
      if (!(seq > previous)) return false
      previous = seq
    }
    if (page.length < 5000) return true
    start = `(${page[page.length - 1]![0]}`
  }
}

/** utime + stime of a process (all its threads) in ms, from /proc (Linux). */
async function cpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN
  }
}

async function rssMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1])
    return Number.isFinite(kb) ? Math.round(kb / 102.4) / 10 : null
  } catch {
    return null
  }
}

/** The committed fixture, or (until it exists) one synthesized from the real frames. */
async function benchFixture(path: string | undefined): Promise<{ path: string; synthesized: boolean }> {
  const committed = path ?? join(root, 'fixtures/generated.fixture.gz')
  if (existsSync(committed)) {
    await (await openFixture(committed)).close()
    return { path: committed, synthesized: false }
  }
  if (path !== undefined) throw new Error(`fixture ${path} not found`)
  const synthesized = join(tmpdir(), `bench-ingest-${process.pid}.fixture.gz`)
  const frames = await realFrames()
  const writer = await FixtureWriter.create(synthesized, { source: 'bench/ingest synthesized' })
  for (let i = 0; i < 5000; i++) {
    if (!writer.write({ timeUs: Date.now() * 1000 + i, bytes: withSeq(frames[i % frames.length]!, i + 1) })) await writer.drain()
  }
  await writer.close()
  return { path: synthesized, synthesized: true }
}

async function realFrames(): Promise<Buffer[]> {
  const { readdir } = await import('node:fs/promises')
  const dir = join(root, 'test/data/real')
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.cbor')).sort()
  return Promise.all(files.map((f) => readFile(join(dir, f))))
}

function parseArgs(argv: string[]): { events: number; pauseSeconds: number; fixture: string | undefined; baseline: string | undefined } {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i === -1 ? undefined : argv[i + 1]
  }
  return { events: Number(value('--events') ?? 100_000), pauseSeconds: Number(value('--pause-seconds') ?? 30), fixture: value('--fixture'), baseline: value('--baseline') }
}

await main()

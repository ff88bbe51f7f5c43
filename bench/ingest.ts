import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { deadLetterStreamOf } from '../common/contract.js'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { IngestorProcess, ingestArgs, ingestEnv } from '../harness/ingestor-process.js'
import { startRedis, type RedisHandle } from '../harness/redis/index.js'
import { sleep } from '../harness/wait.js'
import { benchFixture, flagValue, formatRun, ingestorOptions, measure as measureRun, root, shippedNodeOptions, spawnConsumer, type Consumer, type Keys, type RedisTarget, type Run } from './ingest-run.js'
import { startPlcServer } from '../harness/plc-server.js'
import { preencodeFrames, startPreencodedRelay, type PreencodedRelay } from './preencoded-relay.js'
import { median } from './median.js'

/**
 * Ingest throughput, end to end (issue 20 part 4): relay -> consumer child process -> local
 * redis-server, timed from the first entry to --events entries. Consumers, measured in the same
 * run on the same frames: this build's ingestor (unverified, then verifying against a local PLC
 * directory), the naive peer (bench/naive-consumer.ts: one awaited XADD per event) and, with
 * --previous DIR, the ingestor of another built checkout (`git archive <commit>` unpacked and
 * built there). Then the ingestor's RSS while Redis is stopped (SIGSTOP) for --pause-seconds.
 *
 * Isolation (unless --no-pin): the consumer runs on cpu 1 (`taskset -c 1`, every thread it
 * starts too), this process and redis-server on cpu 0; the relay sends frames encoded once into
 * buffers before the run (bench/preencoded-relay.ts), so it costs almost nothing. The verifying
 * runs: one on cpu 1 like the others, one with 2 verify workers on both cores (`taskset` over
 * every cpu: a child of this process would inherit its cpu 0 alone), compared with an unverified
 * run on both cores.
 *
 * node dist/bench/ingest.js [--events N] [--rounds N] [--verify-events N] [--pause-seconds S] [--fixture FILE] [--previous DIR] [--no-pin]
 */
const args = parseArgs(process.argv.slice(2))
/** The consumer's cpu; this process and redis-server get the other one. */
const CONSUMER_CPUS = '1'
/** Every cpu, for the runs that may use both: a child inherits this process's pinning to cpu 0 otherwise. */
const ALL_CPUS = `0-${cpus().length - 1}`
/** --plc-rps for the verifying runs: far above what they ask, so the rate limit is not what is measured. */
const UNLIMITED_PLC_RPS = '100000'

async function main(): Promise<void> {
  const fixture = await benchFixture(args.fixture)
  const redis = await startRedis({ kind: 'process', persistence: 'none' })
  const runs: Run[] = []
  const pin = args.pin ? CONSUMER_CPUS : undefined
  // What the previous build's `ingest` command knows (its flags changed over the builds).
  const previousIngestSource = args.previous === undefined ? '' : readFileSync(join(args.previous, 'dist/cli/commands/ingest.js'), 'utf8')
  try {
    if (args.pin) await pinBenchAndRedis(redis.url)
    // Enough frames for the longest run plus what the consumer reads before the clock starts.
    const chunks = await preencodeFrames(fixture.path, Math.max(args.events, args.verifyEvents, 60_000) + 20_000)
    const relay = (): Promise<PreencodedRelay> => startPreencodedRelay(chunks)
    /** A built checkout's ingestor, run with the node flags its bin ships (shippedNodeOptions). */
    const startIngestor = (checkout: string, url: string, keys: Keys, extra: string[], verify: boolean, cpus: string | undefined): Consumer => {
      const child = { ...ingestorOptions(url, redis.url, keys, extra), verify }
      return spawnConsumer(join(checkout, 'dist/cli/index.js'), ingestArgs(child), { ...child.env, NODE_OPTIONS: shippedNodeOptions(checkout), ...ingestEnv(child) }, cpus)
    }
    type RunOptions = { verify?: boolean; cpus?: string | undefined; events?: number }
    const ingestorRun = (checkout: string, name: string, extra: string[], options: RunOptions = {}): Promise<Run> =>
      measure(name, fixture, redis, relay, options.events ?? args.events, (url, keys) => startIngestor(checkout, url, keys, extra, options.verify === true, 'cpus' in options ? options.cpus : pin))
    const ours = (name: string, extra: string[], options: RunOptions = {}): Promise<Run> => ingestorRun(root, name, extra, options)

    // The unverified consumers, interleaved round by round (the order flips every round): a
    // loaded machine moves single runs by 20% and more, so each figure below is a median.
    const unverified: { name: string; start: (url: string, keys: Keys) => Consumer }[] = [
      { name: 'ingestor (unverified, 1 decode worker)', start: (url, keys) => startIngestor(root, url, keys, [], false, pin) },
      { name: 'naive peer (awaited XADD per event)', start: (url, keys) => spawnConsumer(join(root, 'dist/bench/naive-consumer.js'), [url, keys.stream, keys.cursorKey], { REDIS_URL: redis.url }, pin) },
    ]
    const previousCheckout = args.previous
    if (previousCheckout !== undefined) {
      // Builds before verification was the default know no --no-verify (and verify only with --verify): verify: true leaves the flag out.
      const knowsNoVerify = previousIngestSource.includes('no-verify')
      unverified.push({ name: `previous build ${previousCheckout}`, start: (url, keys) => startIngestor(previousCheckout, url, keys, [], !knowsNoVerify, pin) })
    }
    const series = unverified.map((): Run[] => [])
    for (let round = 0; round < args.rounds; round++) {
      const order = unverified.map((_, i) => i)
      if (round % 2 === 1) order.reverse()
      for (const i of order) series[i]!.push(await measure(unverified[i]!.name, fixture, redis, relay, args.events, unverified[i]!.start))
    }
    runs.push(...series.flat())
    const ingestor = medianRun(series[0]!)
    const naive = medianRun(series[1]!)
    const previous = series[2] === undefined ? null : medianRun(series[2])
    // Verification against a local PLC directory serving the fixture's DID documents (docs/verify.md).
    const verified: Run[] = []
    // The previous build's same runs, where it verifies by default and knows --verify-workers.
    const previousVerified: Run[] = []
    const previousVerifies = previousCheckout !== undefined && previousIngestSource.includes('no-verify') && previousIngestSource.includes('verify-workers')
    // The 2-worker run's like-for-like peer: unverified on the same cpus (--events of them: a run of 20,000 is mostly warm-up at this rate).
    let unverifiedBoth: Run | null = null
    const plc = await startPlcServer(fixture.path)
    if (plc !== null) {
      const plcArgs = ['--plc-url', plc.url, '--plc-rps', UNLIMITED_PLC_RPS]
      const verifying = { verify: true, events: args.verifyEvents }
      const bothCpus = args.pin ? ALL_CPUS : undefined
      const oneWorker = ['--verify-workers', '1']
      const twoWorkers = ['--verify-workers', '2']
      verified.push(await ours(`ingestor verifying, 1 verify worker${args.pin ? ', cpu 1' : ''}`, [...plcArgs, ...oneWorker], verifying))
      if (previousVerifies) previousVerified.push(await ingestorRun(previousCheckout, `previous build verifying, 1 verify worker${args.pin ? ', cpu 1' : ''}`, [...plcArgs, ...oneWorker], verifying))
      unverifiedBoth = await ours('ingestor (unverified), both cpus', [], { cpus: bothCpus })
      verified.push(await ours('ingestor verifying, 2 verify workers, both cpus', [...plcArgs, ...twoWorkers], { ...verifying, cpus: bothCpus }))
      if (previousVerifies) previousVerified.push(await ingestorRun(previousCheckout, 'previous build verifying, 2 verify workers, both cpus', [...plcArgs, ...twoWorkers], { ...verifying, cpus: bothCpus }))
      await plc.close()
      runs.push(...verified, ...previousVerified, ...(unverifiedBoth === null ? [] : [unverifiedBoth]))
    }
    const paused = args.pauseSeconds > 0 ? await pausedRedisRss(redis, relay, args.pauseSeconds) : null

    console.log(
      `\nload average at the end: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    )
    console.log(`fixture: ${fixture.path}${fixture.synthesized ? ' (synthesized from test/data/real: the committed fixture is missing)' : ''}`)
    console.log(
      `events per run: ${args.events} (verifying: ${args.verifyEvents}), cores: ${cpus().length}, ${args.pin ? `consumer on cpu ${CONSUMER_CPUS}, relay and redis-server on cpu 0` : 'not pinned'}; relay: pre-encoded frames`,
    )
    for (const run of runs) console.log(formatRun(run))
    console.log(`\nmedians over ${args.rounds} rounds (max RSS: the highest of the rounds):`)
    for (const run of [ingestor, naive, previous]) if (run) console.log(formatRun(run))
    console.log('')
    for (const peer of [naive, previous]) {
      if (peer === null) continue
      console.log(
        `ingestor vs ${peer.name}: ${(ingestor.eventsPerSec / peer.eventsPerSec).toFixed(2)}x events/s, ` +
          `consumer CPU ${ingestor.consumerCpuMsPer1k} vs ${peer.consumerCpuMsPer1k} ms / 1000 events (${(peer.consumerCpuMsPer1k / ingestor.consumerCpuMsPer1k).toFixed(2)}x less), ` +
          `max RSS ${ingestor.maxRssMb ?? '?'} vs ${peer.maxRssMb ?? '?'} MiB`,
      )
    }
    // Each round ran the consumers back to back: a ratio within a round cancels most of the machine's swings between rounds.
    series.slice(1).forEach((peerRuns) => {
      const ratio = (pick: (ours: Run, peer: Run) => number): string => median(series[0]!.map((run, round) => pick(run, peerRuns[round]!))).toFixed(2)
      console.log(
        `ingestor vs ${peerRuns[0]!.name}, median of the ${args.rounds} per-round ratios: ${ratio((o, p) => o.eventsPerSec / p.eventsPerSec)}x events/s, ${ratio((o, p) => p.consumerCpuMsPer1k / o.consumerCpuMsPer1k)}x less consumer CPU`,
      )
    })
    verified.forEach((run, i) => {
      const peer = run.name.includes('both cpus') && unverifiedBoth !== null ? unverifiedBoth : ingestor
      const before = previousVerified[i]
      console.log(
        `${run.name}: ${(run.eventsPerSec / peer.eventsPerSec).toFixed(2)} of the unverified events/s on the same cpus (target >= 0.33)` +
          (before === undefined ? '' : `; ${(run.eventsPerSec / before.eventsPerSec).toFixed(2)}x the previous build's events/s, ${(before.consumerCpuMsPer1k / run.consumerCpuMsPer1k).toFixed(2)}x less consumer CPU`),
      )
    })
    console.log(
      `targets: consumer CPU ${ingestor.consumerCpuMsPer1k} ms / 1000 events (<= 30), ${ingestor.eventsPerSec} events/s (>= 25,000), max RSS at max rate ${ingestor.maxRssMb ?? '?'} MiB (<= 150)` +
        (paused ? `, under a ${args.pauseSeconds} s Redis stall ${paused.maxRssDuringMb} MiB (<= 150)` : ''),
    )
    if (paused) {
      console.log(
        `Redis SIGSTOPped ${args.pauseSeconds} s under load: ingestor RSS before ${paused.rssBeforeMb} MiB, max during ${paused.maxRssDuringMb} MiB; ` +
          `queue ${paused.queueFrames} frames; after SIGCONT: ${paused.recovered ? 'caught up, stream checked in order without duplicates' : 'DID NOT RECOVER'}`,
      )
    }
  } finally {
    await redis.stop()
    if (fixture.synthesized) await rm(fixture.path, { force: true })
  }
}

/** A run on this bench's one redis-server. */
function measure(name: string, fixture: { path: string }, redis: RedisHandle, relay: () => Promise<PreencodedRelay>, events: number, start: (relayUrl: string, keys: Keys) => Consumer): Promise<Run> {
  const target: RedisTarget = { url: redis.url, nodeUrls: [redis.url], cluster: false }
  return measureRun(name, fixture, target, start, { events, relay })
}

/** Per figure, the median of a consumer's rounds; max RSS the highest. */
function medianRun(runs: readonly Run[]): Run {
  const medianOf = (pick: (run: Run) => number): number => median(runs.map(pick))
  const rss = runs.map((run) => run.maxRssMb).filter((mb): mb is number => mb !== null)
  return {
    name: `${runs[0]!.name}, median`,
    events: medianOf((run) => run.events),
    seconds: medianOf((run) => run.seconds),
    eventsPerSec: medianOf((run) => run.eventsPerSec),
    maxRssMb: rss.length === 0 ? null : Math.max(...rss),
    consumerCpuMsPer1k: medianOf((run) => run.consumerCpuMsPer1k),
    redisCpuMsPer1k: medianOf((run) => run.redisCpuMsPer1k),
    replayCpuPercent: medianOf((run) => run.replayCpuPercent),
  }
}

/** This process (the relay) and redis-server on cpu 0, every thread of each. */
async function pinBenchAndRedis(redisUrl: string): Promise<void> {
  const client = new Redis(redisUrl)
  const redisPid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1])
  client.disconnect()
  for (const pid of [process.pid, redisPid]) execFileSync('taskset', ['-a', '-p', '-c', '0', String(pid)], { stdio: 'ignore' })
}

/** Ingestor under load, Redis SIGSTOPped: RSS must stay flat (the queue is bounded, the relay socket paused). */
async function pausedRedisRss(redis: RedisHandle, startRelay: () => Promise<PreencodedRelay>, seconds: number) {
  const keys = { stream: `bench:${Date.now()}:pause`, cursorKey: `bench:${Date.now()}:pause-cursor` }
  const relay = await startRelay()
  const client = new Redis(redis.url)
  const redisPid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1])
  const child = IngestorProcess.start({
    relayUrl: relay.url,
    redisUrl: redis.url,
    ...keys,
    args: ['--cursor', '0', '--status-interval', '1', '--health-port', '0'],
    env: { FIREHOSE_LOG_LEVEL: 'info', NODE_OPTIONS: shippedNodeOptions() },
  })
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
    return { rssBeforeMb, maxRssDuringMb, queueFrames: typeof statusLine?.queueFrames === 'number' ? statusLine.queueFrames : '?', recovered }
  } finally {
    await relay.close()
    await client.del(keys.stream, keys.cursorKey, deadLetterStreamOf(keys.stream))
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

interface Args {
  events: number
  /** Rounds of the unverified consumers, interleaved. */
  rounds: number
  verifyEvents: number
  pauseSeconds: number
  fixture: string | undefined
  /** A built checkout of the previous build (`--baseline`, its older name, too). */
  previous: string | undefined
  pin: boolean
}

function parseArgs(argv: string[]): Args {
  const value = (flag: string): string | undefined => flagValue(argv, flag)
  return {
    events: Number(value('--events') ?? 100_000),
    rounds: Number(value('--rounds') ?? 3),
    verifyEvents: Number(value('--verify-events') ?? 20_000),
    pauseSeconds: Number(value('--pause-seconds') ?? 15),
    fixture: value('--fixture'),
    previous: value('--previous') ?? value('--baseline'),
    pin: !argv.includes('--no-pin'),
  }
}

await main()

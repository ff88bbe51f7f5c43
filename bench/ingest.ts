import { rm } from 'node:fs/promises'
import { deadLetterStreamOf } from '../common/contract.js'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { IngestorProcess, ingestArgs, ingestEnv } from '../harness/ingestor-process.js'
import { startRedis, type RedisHandle } from '../harness/redis/index.js'
import { sleep } from '../harness/wait.js'
import { startReplay } from '../replay/index.js'
import { benchFixture, flagValue, formatRun, ingestorChild, ingestorOptions, measure as measureRun, root, SHIPPED_NODE_OPTIONS, spawnConsumer, type Consumer, type Keys, type RedisTarget, type Run } from './ingest-run.js'
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
const args = parseArgs(process.argv.slice(2))

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
      runs.push(
        await measure(`baseline build ${args.baseline} (1 worker)`, fixture, redis, (relay, keys) => {
          // An earlier build keeps no per-repo state and knows no --no-repo-state: the harness leaves the flag out for it.
          const options = { ...ingestorOptions(relay, redis.url, keys, []), repoState: true }
          return spawnConsumer(cli, ingestArgs(options), ingestEnv(options))
        }),
      )
    }
    const paused = args.pauseSeconds > 0 ? await pausedRedisRss(fixture, redis, args.pauseSeconds) : null

    const ingestor = runs[0]!
    console.log(
      `\nload average at the end: ${(await import('node:os'))
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    )
    console.log(`fixture: ${fixture.path}${fixture.synthesized ? ' (synthesized from test/data/real: the committed fixture is missing)' : ''}`)
    console.log(`events per run: ${args.events}, cores: ${(await import('node:os')).availableParallelism()}`)
    for (const run of runs) {
      console.log(formatRun(run))
    }
    for (const run of runs.slice(1)) {
      console.log(
        `ratio ${ingestor.name} / ${run.name}: ${(ingestor.eventsPerSec / run.eventsPerSec).toFixed(2)}x events/s, ` +
          `${((run.consumerCpuMsPer1k + run.redisCpuMsPer1k) / (ingestor.consumerCpuMsPer1k + ingestor.redisCpuMsPer1k)).toFixed(2)}x less CPU (consumer + redis) per event`,
      )
    }
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
function measure(name: string, fixture: { path: string }, redis: RedisHandle, start: (relayUrl: string, keys: Keys) => Consumer): Promise<Run> {
  const target: RedisTarget = { url: redis.url, nodeUrls: [redis.url], cluster: false }
  return measureRun(name, fixture, target, start, { events: args.events })
}

function naiveChild(relayUrl: string, redisUrl: string, keys: Keys): Consumer {
  return spawnConsumer(join(root, 'dist/bench/naive-consumer.js'), [relayUrl, keys.stream, keys.cursorKey], { REDIS_URL: redisUrl })
}

/** Ingestor under load, Redis SIGSTOPped: RSS must stay flat (the queue is bounded, the relay socket paused). */
async function pausedRedisRss(fixture: { path: string }, redis: RedisHandle, seconds: number) {
  const keys = { stream: `bench:${Date.now()}:pause`, cursorKey: `bench:${Date.now()}:pause-cursor` }
  const relay = await startReplay({ files: [fixture.path], loop: true, rate: { mode: 'max' }, start: 'first-client' })
  const client = new Redis(redis.url)
  const redisPid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1])
  const child = IngestorProcess.start({
    relayUrl: relay.url,
    redisUrl: redis.url,
    ...keys,
    args: ['--cursor', '0', '--status-interval', '1', '--health-port', '0'],
    env: { FIREHOSE_LOG_LEVEL: 'info', NODE_OPTIONS: SHIPPED_NODE_OPTIONS },
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

function parseArgs(argv: string[]): { events: number; pauseSeconds: number; fixture: string | undefined; baseline: string | undefined } {
  const value = (flag: string): string | undefined => flagValue(argv, flag)
  return { events: Number(value('--events') ?? 100_000), pauseSeconds: Number(value('--pause-seconds') ?? 30), fixture: value('--fixture'), baseline: value('--baseline') }
}

await main()

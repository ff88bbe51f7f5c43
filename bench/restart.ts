import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { startRedis } from '../harness/redis/index.js'
import { waitUntil } from '../harness/wait.js'
import { startReplay } from '../replay/index.js'
import { benchFixture, flagValue, root, shippedNodeOptions } from './ingest-run.js'
import { median } from './median.js'

/**
 * Time to first write after a restart: the recovery time after every crash. A consumer process
 * is started with a stored cursor against a relay that has events after it (the replay server,
 * this process, the committed fixture already published) and a local redis-server; timed from
 * spawn() to the first entry in the stream (XLEN polled every 2 ms). Contenders, alternated
 * round by round in one run: the `firehose ingest` CLI of this build, the naive peer
 * (bench/naive-consumer.ts: ws + ioredis, nothing else: the floor for a Node.js process), and
 * with --baseline DIR the CLI of another built checkout. For this build's ingestor, the phases
 * from its own log lines: node start and imports, Redis, start-up checks and cursor, relay.
 *
 * node dist/bench/restart.js [--rounds N] [--baseline DIR]
 */
const ROUNDS = Number(flagValue(process.argv, '--rounds') ?? 9)
const BASELINE = flagValue(process.argv, '--baseline')
const STORED_CURSOR = 700

interface Contender {
  name: string
  start: (relayUrl: string, redisUrl: string, keys: { stream: string; cursorKey: string }) => ChildProcess
}

function ingestCli(name: string, checkout: string): Contender {
  return {
    name,
    start: (relayUrl, redisUrl, keys) =>
      spawn(process.execPath, [join(checkout, 'dist/cli/index.js'), 'ingest', '--relay', relayUrl, '--stream', keys.stream, '--cursor-key', keys.cursorKey, '--status-interval', '3600'], {
        // Verification off as a variable, not --no-verify: an older checkout (verifying only with --verify) ignores it.
        env: { PATH: process.env.PATH ?? '', REDIS_URL: redisUrl, FIREHOSE_LOG_LEVEL: 'info', NODE_OPTIONS: shippedNodeOptions(checkout), FIREHOSE_NO_VERIFY: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
  }
}

const naive: Contender = {
  name: 'naive peer (ws + ioredis)',
  start: (relayUrl, redisUrl, keys) =>
    spawn(process.execPath, [join(root, 'dist/bench/naive-consumer.js'), `${relayUrl}?cursor=${STORED_CURSOR}`, keys.stream, keys.cursorKey], {
      env: { PATH: process.env.PATH ?? '', REDIS_URL: redisUrl },
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
}

/** Log line messages that end each phase of the ingestor's start, in order. */
const PHASES = [
  ['node + imports', 'ingestor starting'],
  ['redis connect', 'redis connected'],
  ['checks + cursor', 'starting from cursor'],
  ['relay connect', 'relay connected'],
] as const

async function main(): Promise<void> {
  const fixture = await benchFixture(undefined)
  const redis = await startRedis({ kind: 'process', persistence: 'none' })
  const relay = await startReplay({ files: [fixture.path], rate: { mode: 'max' } })
  const admin = new Redis(redis.url)
  const contenders = [ingestCli('ingestor (this build)', root), naive, ...(BASELINE === undefined ? [] : [ingestCli(`ingestor (${BASELINE})`, BASELINE)])]
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
  const phases = new Map<string, number[]>(PHASES.map(([name]) => [name, []]))
  try {
    await waitUntil(() => relay.status().finished, { what: 'the replay to publish the fixture', timeoutMs: 60_000 })
    for (let round = 0; round < ROUNDS; round++) {
      for (const contender of contenders) {
        const keys = { stream: `bench:restart:${round}:${times.get(contender.name)!.length}:${Date.now()}`, cursorKey: `bench:restart:cursor:${Date.now()}` }
        await admin.set(keys.cursorKey, String(STORED_CURSOR))
        const startedAt = Date.now()
        const started = performance.now()
        const child = contender.start(relay.url, redis.url, keys)
        let log = ''
        child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()))
        await waitUntil(async () => (await admin.xlen(keys.stream)) > 0, { what: `${contender.name}'s first write`, timeoutMs: 60_000, intervalMs: 2 })
        times.get(contender.name)!.push(performance.now() - started)
        child.kill('SIGKILL')
        await new Promise((resolve) => child.once('exit', resolve))
        if (contender === contenders[0]) notePhases(log, startedAt, phases)
        await admin.del(keys.stream, keys.cursorKey)
      }
    }
  } finally {
    admin.disconnect()
    await relay.close()
    await redis.stop()
  }
  console.log(`time to first write after a restart: ${ROUNDS} rounds, median [min-max] ms, stored cursor ${STORED_CURSOR} of ${fixture.path}`)
  for (const [name, values] of times) console.log(`  ${name.padEnd(34)} ${summary(values)}`)
  const ours = median(times.get(contenders[0]!.name)!)
  for (const other of contenders.slice(1)) console.log(`  ratio ${contenders[0]!.name} / ${other.name}: ${(ours / median(times.get(other.name)!)).toFixed(2)}x`)
  console.log('  phases of this build (from its log lines, cumulative from spawn):')
  for (const [name, values] of phases) console.log(`    ${name.padEnd(18)} ${summary(values)}`)
}

function notePhases(log: string, startedAt: number, phases: Map<string, number[]>): void {
  const lines = log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; time: number })
  for (const [name, message] of PHASES) {
    const line = lines.find((candidate) => candidate.msg === message)
    if (line !== undefined) phases.get(name)!.push(line.time - startedAt)
  }
}

function summary(values: readonly number[]): string {
  return `${Math.round(median(values))} [${Math.round(Math.min(...values))}-${Math.round(Math.max(...values))}]`
}

await main()

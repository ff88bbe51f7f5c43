import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis, type Cluster } from 'ioredis'
import { colocatedKey, keyLayout, shardStream } from '../common/key-layout.js'
import { IngestorProcess, type IngestorProcessOptions } from '../harness/ingestor-process.js'
import { openClusterClient } from '../common/redis-open.js'
import { sleep } from '../harness/wait.js'
import { FixtureWriter, openFixture } from '../fixture-file/index.js'
import { startReplay, withSeq } from '../replay/index.js'

/**
 * One end-to-end ingest measurement, shared by bench/ingest.ts and bench/shards.ts: the replay
 * server (this process, --max, looping a fixture) -> consumer child process -> redis-server(s),
 * timed from the first entry to a target count, CPU of every process read from /proc.
 */

/** The repo root whether this module runs from source or from dist/. */
export const root = fileURLToPath(new URL(existsSync(fileURLToPath(new URL('../../package.json', import.meta.url))) ? '../../' : '../', import.meta.url))

export interface Run {
  name: string
  events: number
  seconds: number
  eventsPerSec: number
  maxRssMb: number | null
  /** CPU time (user + system, all threads) per 1000 events: comparable even on a loaded machine. */
  consumerCpuMsPer1k: number
  /** Summed over every redis-server of the target. */
  redisCpuMsPer1k: number
  /** CPU share of one core used by this process (the replay server) during the run: near 100% means the relay was the limit. */
  replayCpuPercent: number
}

export type Keys = { stream: string; cursorKey: string }
export type Consumer = { pid: number | undefined; maxRssMb: () => number | null; stop: () => Promise<void> }

/** Where a run writes: one redis-server, or a Redis Cluster (url is then a seed node). */
export interface RedisTarget {
  url: string
  /** Every redis-server of the target, for their CPU. */
  nodeUrls: readonly string[]
  cluster: boolean
}

export interface MeasureOptions {
  /** Target count: the sum of XLEN over the shard streams. */
  events: number
  /** Shard streams the consumer writes (its --shards); default 1. */
  shards?: number
  /** The relay the consumer reads; default the replay server in this process, --max, looping the fixture. */
  relay?: () => Promise<{ url: string; close: () => Promise<void> }>
}

/** The replay server in this process, at max rate, looping `fixture`. */
function loopingReplay(fixture: { path: string }): Promise<{ url: string; close: () => Promise<void> }> {
  return startReplay({ files: [fixture.path], loop: true, rate: { mode: 'max' }, start: 'first-client' })
}

export async function measure(name: string, fixture: { path: string }, target: RedisTarget, start: (relayUrl: string, keys: Keys) => Consumer, options: MeasureOptions): Promise<Run> {
  const keys = { stream: `bench:${Date.now()}:events`, cursorKey: `bench:${Date.now()}:cursor` }
  const layout = keyLayout(options.shards ?? 1, target.cluster)
  const streams = Array.from({ length: layout.shards }, (_, shard) => shardStream(layout, keys.stream, shard))
  const relay = await (options.relay ?? (() => loopingReplay(fixture)))()
  const client: Redis | Cluster = target.cluster ? await openClusterClient(target.nodeUrls) : new Redis(target.url)
  const redisPids = await Promise.all(target.nodeUrls.map(serverPid))
  const length = async (): Promise<number> => (await Promise.all(streams.map((stream) => client.xlen(stream)))).reduce((sum, n) => sum + n, 0)
  const redisCpuMs = async (): Promise<number> => (await Promise.all(redisPids.map(cpuMs))).reduce((sum, ms) => sum + ms, 0)
  try {
    const consumer = start(`${relay.url}?cursor=0`, keys)
    // Time from the first entry to the target, so process start-up is not counted.
    while ((await length()) === 0) await sleep(5)
    const t0 = performance.now()
    const first = await length()
    const cpu0 = [await cpuMs(consumer.pid), await redisCpuMs()]
    const replayCpu0 = process.cpuUsage()
    let count = 0
    while ((count = await length()) < options.events) await sleep(20)
    const seconds = (performance.now() - t0) / 1000
    const cpu1 = [await cpuMs(consumer.pid), await redisCpuMs()]
    const replayCpu = process.cpuUsage(replayCpu0)
    const replayCpuPercent = Math.round((replayCpu.user + replayCpu.system) / 10 / (seconds * 1000))
    await consumer.stop()
    const per1k = (i: number): number => Math.round(((cpu1[i]! - cpu0[i]!) * 1000) / (count - first))
    return { name, events: count, seconds, eventsPerSec: Math.round((count - first) / seconds), maxRssMb: consumer.maxRssMb(), consumerCpuMsPer1k: per1k(0), redisCpuMsPer1k: per1k(1), replayCpuPercent }
  } finally {
    await relay.close()
    // One key per DEL: on a cluster the keys sit in different slots.
    const leftovers = streams.flatMap((stream) => [stream, colocatedKey(layout, keys.cursorKey, stream), colocatedKey(layout, `${keys.stream}:dead`, stream)])
    await Promise.all(leftovers.map((key) => client.del(key)))
    client.disconnect()
  }
}

/** One line per run, the same for every bench. */
export function formatRun(run: Run): string {
  return (
    `${run.name.padEnd(40)} ${String(run.eventsPerSec).padStart(7)} events/s  ${run.seconds.toFixed(2)} s  max RSS ${run.maxRssMb ?? '?'} MiB  ` +
    `CPU per 1000 events: consumer ${run.consumerCpuMsPer1k} ms, redis ${run.redisCpuMsPer1k} ms; replay server ${run.replayCpuPercent}% of a core`
  )
}

async function serverPid(url: string): Promise<number> {
  const client = new Redis(url)
  try {
    return Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1])
  } finally {
    client.disconnect()
  }
}

export function ingestorOptions(relayUrl: string, redisUrl: string, keys: Keys, extra: string[]): IngestorProcessOptions {
  const url = new URL(relayUrl)
  const cursor = url.searchParams.get('cursor') ?? '0'
  url.searchParams.delete('cursor')
  return { relayUrl: url.toString(), redisUrl, ...keys, args: ['--cursor', cursor, '--status-interval', '1', ...extra], env: { FIREHOSE_LOG_LEVEL: 'warn', NODE_OPTIONS: shippedNodeOptions() } }
}

/**
 * The node flags a built checkout's `firehose` bin runs with: those of its shebang
 * (`#!/usr/bin/env -S node <flags>`, which the Docker image sets as NODE_OPTIONS too), for runs
 * that start `node dist/cli/index.js` as the bin would run.
 */
export function shippedNodeOptions(checkout: string = root): string {
  const shebang = readFileSync(join(checkout, 'dist/cli/index.js'), 'utf8').split('\n', 1)[0]!
  return /^#!\/usr\/bin\/env -S node(.*)$/.exec(shebang)?.[1]!.trim() ?? ''
}

/** The `firehose ingest` CLI of this build with `extra` flags. */
export function ingestorChild(relayUrl: string, redisUrl: string, keys: Keys, extra: string[]): Consumer {
  const child = IngestorProcess.start(ingestorOptions(relayUrl, redisUrl, keys, extra))
  return {
    pid: child.pid,
    maxRssMb: () => child.maxRssMb,
    stop: async () => {
      await child.stop()
    },
  }
}

/**
 * A consumer script as a child process, its RSS sampled from /proc. `env` carries what must not be
 * on its command line (a Redis URL). `cpus` (a taskset list, e.g. '1'): the process and every
 * thread it starts run only there.
 */
export function spawnConsumer(script: string, argv: string[], env: Record<string, string>, cpus?: string): Consumer {
  const command = [process.execPath, script, ...argv]
  // taskset execs node: the child's pid is node's.
  if (cpus !== undefined) command.unshift('taskset', '-c', cpus)
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, FIREHOSE_LOG_LEVEL: 'warn', ...env } })
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

/** utime + stime of a process (all its threads) in ms, from /proc (Linux). */
export async function cpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN
  }
}

export async function rssMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1])
    return Number.isFinite(kb) ? Math.round(kb / 102.4) / 10 : null
  } catch {
    return null
  }
}

/** The committed fixture, or (until it exists) one synthesized from the real frames; delete a synthesized one when done. */
export async function benchFixture(path: string | undefined): Promise<{ path: string; synthesized: boolean }> {
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
  const dir = join(root, 'test/data/real')
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.cbor')).sort()
  return Promise.all(files.map((f) => readFile(join(dir, f))))
}

/** The value after `flag` in argv, if any. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag)
  return i === -1 ? undefined : argv[i + 1]
}

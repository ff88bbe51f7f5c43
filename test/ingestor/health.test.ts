import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../harness/free-port.js'
import { IngestorProcess } from '../../harness/ingestor-process.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle, IngestorOptions } from '../../ingestor/index.js'
import { INGESTOR_DEFAULTS } from '../../ingestor/options.js'
import { PROBE_CACHE_MS } from '../../ingestor/redis-probe.js'
import { SUBSCRIBE_PATH } from '../../replay/index.js'
import { committedFixture, loadIngestor, replay, repoRoot, startOwnRedis, uniqueKeys } from './helpers.js'
import { parsePrometheus, sample, type Sample } from './prometheus-text.js'

/** fixtures/README.md: 1,500 frames, seq 20000000001 .. 20000001500. */
const FIXTURE = { frames: 1500, lastSeq: 20_000_001_500, byType: { commit: 1449, identity: 24, account: 19, sync: 8 } }
const GROUP = 'firehose-processors'

interface Probe {
  status: number
  body: { healthy?: boolean; ready?: boolean; reasons: string[]; state: string }
}

async function get(port: number, path: '/health' | '/ready'): Promise<Probe> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, body: (await res.json()) as Probe['body'] }
}

async function scrape(port: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parsePrometheus(await res.text())
}

/** Polls an endpoint until `until` holds; returns that answer. */
async function waitFor(port: number, path: '/health' | '/ready', what: string, until: (probe: Probe) => boolean, timeoutMs = 15_000): Promise<Probe> {
  let last: Probe | null = null
  await waitUntil(
    async () => {
      last = await get(port, path)
      return until(last)
    },
    { what: `${path}: ${what} (last: ${JSON.stringify(last)})`, timeoutMs, intervalMs: 100 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last answer ${JSON.stringify(last)}`)
  })
  return last!
}

/** Local addresses of the TCP sockets listening on `port` (Linux /proc/net/tcp, IPv4; hex little-endian address:port). */
async function listeningAddresses(port: number): Promise<string[]> {
  const LISTEN = '0A'
  const rows = (await readFile('/proc/net/tcp', 'utf8'))
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
  return rows.filter((row) => row[3] === LISTEN && Number.parseInt(row[1]!.split(':')[1]!, 16) === port).map((row) => Buffer.from(row[1]!.split(':')[0]!, 'hex').reverse().join('.'))
}

const hasReason = (pattern: RegExp) => (probe: Probe) => probe.status === 503 && probe.body.reasons.some((reason) => pattern.test(reason))

describe('GET /health, /ready and /metrics tell the truth (real redis-server, real replay relay)', () => {
  let redis: RedisHandle
  let admin: Redis
  let redisPid: number
  beforeAll(async () => {
    redis = await startOwnRedis()
    admin = new Redis(redis.url)
    redisPid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1])
  })
  afterAll(async () => {
    admin.disconnect()
    await redis.stop()
  })

  async function startWithHealth(relayUrl: string, extra: Partial<IngestorOptions> = {}): Promise<{ ingestor: IngestorHandle; port: number; keys: ReturnType<typeof uniqueKeys> }> {
    const keys = uniqueKeys('test:health')
    const { startIngestor } = await loadIngestor()
    const ingestor = await startIngestor({
      relayUrl,
      redisUrl: redis.url,
      stream: keys.stream,
      cursorKey: keys.cursorKey,
      startCursor: 0,
      statusIntervalMs: 0,
      healthPort: 0,
      healthHost: '127.0.0.1',
      relayBackoff: { initialMs: 50, maxMs: 200 },
      ...extra,
    })
    return { ingestor, port: ingestor.healthPort!, keys }
  }

  it('after the committed fixture (plus 3 garbage messages): 200s, and /metrics carries every named metric with the fixture’s numbers', async () => {
    const relay = await replay([committedFixture], { rate: { mode: 'max' }, start: 'first-client', seed: 7, faults: [{ kind: 'garbage', atFrame: 700, count: 3, bytes: 64 }] })
    // Time figures are checked by order, not by size: every frame arrives after this, on the
    // receive-time clock (client/clock.ts), and every write is acknowledged after `startedMs`.
    const startedMs = Date.now()
    const startedReceiveClockMs = performance.timeOrigin + performance.now()
    const { ingestor, port, keys } = await startWithHealth(relay.url)
    try {
      await waitUntil(() => ingestor.status().storedCursor === FIXTURE.lastSeq, { what: 'the last seq stored', timeoutMs: 30_000 })
      // A worker takes 100 entries and acknowledges 60: the group is 1,400 behind with 40 pending.
      const taken = (await admin.xreadgroup('GROUP', GROUP, 'worker-1', 'COUNT', 100, 'STREAMS', keys.stream, '>')) as [string, [string, string[]][]][]
      await admin.xack(keys.stream, GROUP, ...taken[0]![1].slice(0, 60).map(([id]) => id))

      expect(await get(port, '/health')).toMatchObject({ status: 200, body: { healthy: true, reasons: [], state: 'running' } })
      expect(await waitFor(port, '/ready', 'ready', (p) => p.status === 200)).toMatchObject({ body: { ready: true, reasons: [] } })

      const scrapeStartedMs = Date.now()
      const samples = await scrape(port)
      const scrapedMs = Date.now()
      const m = (name: string, labels?: Record<string, string>) => sample(samples, name, labels)
      for (const [type, events] of Object.entries(FIXTURE.byType)) expect(m('firehose_events_total', { type }), type).toBe(events)
      expect(m('firehose_events_written_total')).toBe(FIXTURE.frames)
      expect(m('firehose_frames_received_total')).toBe(FIXTURE.frames + 3)
      expect(m('firehose_dead_lettered_total')).toBe(3)
      expect(samples.filter((s) => s.name === 'firehose_decode_errors_total').reduce((sum, s) => sum + s.value, 0)).toBe(3)
      const eventBytes = samples.filter((s) => s.name === 'firehose_event_bytes_total').reduce((sum, s) => sum + s.value, 0)
      // fixtures/README.md: 3.3 MiB of frames; the relay also sent the garbage.
      expect(eventBytes).toBeGreaterThan(3_000_000)
      expect(m('firehose_relay_bytes_received_total')).toBe(eventBytes + 3 * 64)
      expect(m('firehose_relay_connects_total')).toBe(1)
      expect(m('firehose_relay_reconnects_total')).toBe(0)
      expect(m('firehose_relay_connected')).toBe(1)
      expect(m('firehose_cursor')).toBe(FIXTURE.lastSeq)
      expect(m('firehose_position')).toBe(FIXTURE.lastSeq)
      // Receive-time lag: the last frame's socket-to-Redis time, within this run. Event-time lag: the fixture is from 2025-06-02.
      expect(m('firehose_receive_lag_seconds')).toBeGreaterThanOrEqual(0)
      expect(m('firehose_receive_lag_seconds')).toBeLessThanOrEqual((scrapedMs - startedReceiveClockMs) / 1000)
      expect(m('firehose_event_lag_seconds')).toBeGreaterThan(86_400)
      expect(m('firehose_last_ack_timestamp_seconds')).toBeGreaterThanOrEqual(startedMs / 1000)
      expect(m('firehose_last_ack_timestamp_seconds')).toBeLessThanOrEqual(scrapedMs / 1000)
      expect(m('firehose_write_duration_seconds_count')).toBeGreaterThanOrEqual(m('firehose_batches_written_total')!)
      expect(m('firehose_write_duration_seconds_sum')).toBeGreaterThan(0)
      expect(m('firehose_queue_frames')).toBe(0)
      expect(m('firehose_queue_max_frames')).toBe(INGESTOR_DEFAULTS.queueFrames)
      expect(m('firehose_backpressure')).toBe(0)
      expect(m('firehose_stream_length', { stream: keys.stream })).toBe(FIXTURE.frames)
      expect(m('firehose_stream_length', { stream: keys.dead })).toBe(3)
      expect(m('firehose_group_lag_entries', { group: GROUP })).toBe(FIXTURE.frames - 100)
      expect(m('firehose_group_pending_entries', { group: GROUP })).toBe(40)
      expect(m('firehose_group_consumers', { group: GROUP })).toBe(1)
      // Its age is taken during the scrape (the first one: no cached answer), from the entry ID's time.
      const firstUnreadMs = Number((await admin.xrange(keys.stream, '-', '+', 'COUNT', 101))[100]![0].split('-')[0])
      expect(m('firehose_group_oldest_unread_age_seconds', { group: GROUP })).toBeGreaterThanOrEqual((scrapeStartedMs - firstUnreadMs) / 1000)
      expect(m('firehose_group_oldest_unread_age_seconds', { group: GROUP })).toBeLessThanOrEqual((scrapedMs - firstUnreadMs) / 1000)
      expect([m('firehose_redis_up'), m('firehose_ready'), m('firehose_live')]).toEqual([1, 1, 1])
      expect(m('firehose_redis_ping_seconds')).toBeLessThan(1)
      expect(m('process_resident_memory_bytes')).toBeGreaterThan(0)
      // The sample dashboard only queries metrics that exist.
      const dashboard = await readFile(join(repoRoot, 'docs/grafana-dashboard.json'), 'utf8')
      const queried = new Set([...dashboard.matchAll(/\b((?:firehose|process)_[a-z_]+)/g)].map((match) => match[1]!))
      const exported = new Set(samples.map((s) => s.name))
      expect([...queried].filter((name) => !exported.has(name))).toEqual([])
    } finally {
      await ingestor.stop()
      await relay.close()
    }
  })

  it('Redis frozen (SIGSTOP): /ready 503 "redis not answering" then "no write acknowledged", /health stays 200, /metrics answers without Redis; stopping is 503 on /health', async () => {
    const relay = await replay([committedFixture], { rate: { mode: 'rate', eventsPerSec: 400 }, loop: true })
    const { ingestor, port } = await startWithHealth(relay.url, { readyWriteTimeoutMs: 1500, queueFrames: 300, batchSize: 50 })
    let frozen = false
    const freeze = (): void => {
      process.kill(redisPid, 'SIGSTOP')
      frozen = true
    }
    const thaw = (): void => {
      process.kill(redisPid, 'SIGCONT')
      frozen = false
    }
    try {
      await waitUntil(() => ingestor.status().counters.eventsWritten >= 500, { what: '500 entries written', timeoutMs: 15_000 })
      await waitFor(port, '/ready', 'ready', (p) => p.status === 200)
      freeze()
      const notAnswering = await waitFor(port, '/ready', 'redis not answering', hasReason(/^redis not answering: /), 5_000)
      expect(notAnswering.body.ready).toBe(false)
      const stuck = await waitFor(port, '/ready', 'no write acknowledged', hasReason(/^no write acknowledged for \d+\.\d s while frames wait \(limit 1\.5 s\)$/), 10_000)
      expect(stuck.body.reasons.some((r) => r.startsWith('redis not answering: '))).toBe(true)
      expect(await get(port, '/health')).toMatchObject({ status: 200, body: { healthy: true, reasons: [] } })

      await waitUntil(() => ingestor.status().relay.paused, { what: 'backpressure (queue full)', timeoutMs: 10_000 })
      // Answered while Redis is still frozen: the scrape waits for the probe's timeout, not for Redis.
      const samples = await scrape(port)
      expect(sample(samples, 'firehose_redis_up')).toBe(0)
      expect(sample(samples, 'firehose_ready')).toBe(0)
      expect(sample(samples, 'firehose_live')).toBe(1)
      expect(sample(samples, 'firehose_backpressure')).toBe(1)
      expect(sample(samples, 'firehose_receive_lag_seconds')).toBeGreaterThan(1.5)
      expect(samples.filter((s) => s.name === 'firehose_stream_length' || s.name.startsWith('firehose_group_'))).toEqual([])
      expect(sample(samples, 'firehose_events_written_total')).toBeGreaterThan(0) // the rest is still served

      thaw()
      await waitFor(port, '/ready', 'ready again after SIGCONT', (p) => p.status === 200)
      expect(sample(await scrape(port), 'firehose_redis_up')).toBe(1)

      // Stopping while Redis is frozen: the drain waits for Redis, and liveness says so meanwhile.
      freeze()
      const stopped = ingestor.stop()
      const stopping = await waitFor(port, '/health', 'stopping', hasReason(/^stopping \(stop\): draining the queue$/), 5_000)
      expect(stopping.body).toMatchObject({ healthy: false, state: 'stopping' })
      expect((await get(port, '/ready')).status).toBe(503)
      thaw()
      await stopped
    } finally {
      if (frozen) thaw()
      await ingestor.stop()
      await relay.close()
    }
  })

  it('relay never connected, then connected, then down: /ready names each, /health stays 200 throughout', async () => {
    const relayPort = await freePort()
    const { ingestor, port } = await startWithHealth(`ws://127.0.0.1:${relayPort}${SUBSCRIBE_PATH}`)
    let relay: Awaited<ReturnType<typeof replay>> | null = null
    try {
      const never = await waitFor(port, '/ready', 'relay never connected', hasReason(/^relay never connected \(socket error: .*ECONNREFUSED/))
      expect(never.body.state).toBe('running')
      expect(never.body.reasons).toHaveLength(1)
      expect(await get(port, '/health')).toMatchObject({ status: 200, body: { healthy: true } })

      relay = await replay([committedFixture], { port: relayPort, rate: { mode: 'max' }, start: 'first-client' })
      await waitFor(port, '/ready', 'ready once connected', (p) => p.status === 200)
      await waitUntil(() => ingestor.status().storedCursor === FIXTURE.lastSeq, { what: 'the last seq stored', timeoutMs: 30_000 })

      await relay.close()
      relay = null
      const down = await waitFor(port, '/ready', 'relay disconnected', hasReason(/^relay disconnected/))
      expect(down.body.reasons.every((r) => r.startsWith('relay '))).toBe(true)
      expect(await get(port, '/health')).toMatchObject({ status: 200, body: { healthy: true } })
      expect(sample(await scrape(port), 'firehose_relay_connected')).toBe(0)
    } finally {
      await ingestor.stop()
      await relay?.close()
    }
  })

  it('200 /ready and /metrics requests in waves of 50 cost Redis one PING per probe period (shared, cached probe)', async () => {
    const relay = await replay([committedFixture], { rate: { mode: 'max' }, start: 'first-client' })
    const { ingestor, port } = await startWithHealth(relay.url)
    try {
      await waitFor(port, '/ready', 'ready', (p) => p.status === 200)
      await admin.config('RESETSTAT')
      const started = performance.now()
      const answers: number[] = []
      // Waves of 50 at once: beyond 64 concurrent connections the server refuses (its bound).
      for (let wave = 0; wave < 4; wave++) {
        answers.push(...(await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? scrape(port).then(() => 200) : get(port, '/ready').then((p) => p.status))))))
      }
      const spanMs = performance.now() - started
      expect(answers.every((status) => status === 200)).toBe(true)
      const pings = Number(/cmdstat_ping:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0)
      // A count bound, not a timing: a probe starts only PROBE_CACHE_MS after the previous one
      // ended (the one /ready was waited with may still serve the first wave), so the span holds at
      // most one per period plus one. A slow run only widens it; a probe per request would not fit.
      expect(pings).toBeLessThanOrEqual(Math.floor(spanMs / PROBE_CACHE_MS) + 1)
    } finally {
      await ingestor.stop()
      await relay.close()
    }
  })

  it('CLI: --health-host defaults to 127.0.0.1 (the socket is bound to loopback only)', async () => {
    const relay = await replay([committedFixture], { rate: { mode: 'max' } })
    const child = IngestorProcess.start({ relayUrl: relay.url, redisUrl: redis.url, ...uniqueKeys('test:health-default'), args: ['--health-port', '0', '--cursor', '0'] })
    try {
      const { host, port } = (await child.waitForLog((r) => r.msg === 'health endpoint on GET /health', 15_000)) as { host: string; port: number }
      expect(host).toBe('127.0.0.1')
      expect(await listeningAddresses(port)).toEqual(['127.0.0.1'])
      expect((await get(port, '/health')).status).toBe(200)
      expect(await child.stop(10_000)).toEqual({ code: 0, signal: null })
    } finally {
      await child.kill9()
      await relay.close()
    }
  })

  it('CLI: --health-host and --ready-write-timeout (and their FIREHOSE_* variables); bad values exit 2', async () => {
    const relay = await replay([committedFixture], { rate: { mode: 'max' } })
    const keys = uniqueKeys('test:health-cli')
    const child = IngestorProcess.start({
      relayUrl: relay.url,
      redisUrl: redis.url,
      ...keys,
      args: ['--health-port', '0', '--cursor', '0'],
      // Not the default, so the variable is seen to work (the Docker image sets this one).
      env: { FIREHOSE_HEALTH_HOST: '0.0.0.0', FIREHOSE_READY_WRITE_TIMEOUT: '2.5' },
    })
    try {
      const { host, port } = (await child.waitForLog((r) => r.msg === 'health endpoint on GET /health', 15_000)) as { host: string; port: number }
      expect(host).toBe('0.0.0.0')
      expect(await listeningAddresses(port)).toEqual(['0.0.0.0'])
      await waitFor(port, '/ready', 'ready', (p) => p.status === 200)
      expect(sample(await scrape(port), 'firehose_live')).toBe(1)
      expect(await child.stop(10_000)).toEqual({ code: 0, signal: null })
    } finally {
      await child.kill9()
      await relay.close()
    }
    // Both at once: each exits at option checks.
    const bad = [
      ['--health-port', '0', '--ready-write-timeout', '0'],
      ['--health-port', '0', '--health-host', ' '],
    ].map((args) => ({ args, child: IngestorProcess.start({ relayUrl: relay.url, redisUrl: redis.url, ...keys, args }) }))
    for (const { args, child } of bad) expect(await child.exited, args.join(' ')).toEqual({ code: 2, signal: null })
  })
})

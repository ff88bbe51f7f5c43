import { describe, expect, it } from 'vitest'
import { IngestorMetrics } from '../../ingestor/metrics.js'
import { liveness, readiness, type RedisPing } from '../../ingestor/readiness.js'
import type { StreamInfo } from '../../ingestor/redis-probe.js'
import { emptyCounters, type IngestorStatus } from '../../ingestor/status.js'
import { parsePrometheus, sample } from './prometheus-text.js'
import { NOW, running } from './status-sample.js'

const PONG: RedisPing = { ok: true, ms: 0.3, error: null }
const TIMEOUT = { writeTimeoutMs: 10_000, nowMs: NOW }

const relay = (fields: Partial<IngestorStatus['relay']>): Pick<IngestorStatus, 'relay'> => ({ relay: { ...running().relay, ...fields } })

describe('liveness (/health)', () => {
  it('is ok while starting or running, whatever Redis and the relay do', () => {
    expect(liveness(running())).toEqual({ ok: true, reasons: [] })
    expect(liveness(running({ state: 'starting', redis: { ready: false, writesFailingForMs: null, lastError: null }, ...relay({ connected: false, connects: 0 }) }))).toEqual({ ok: true, reasons: [] })
  })

  it('fails with the reason when stopping, stopped or fatal', () => {
    expect(liveness(running({ state: 'stopping', stoppedBy: 'stop' }))).toEqual({ ok: false, reasons: ['stopping (stop): draining the queue'] })
    expect(liveness(running({ state: 'stopped', stoppedBy: 'future-cursor' }))).toEqual({ ok: false, reasons: ['stopped (future-cursor)'] })
    expect(liveness(running({ state: 'stopping', stoppedBy: 'fatal', error: 'cursor key holds "abc"' }))).toEqual({ ok: false, reasons: ['fatal: cursor key holds "abc"'] })
  })
})

describe('readiness (/ready)', () => {
  it('is ok when running, connected, Redis answering, and an idle relay waits for nothing however old the last write', () => {
    expect(readiness(running({ lastAckAtMs: NOW - 3_600_000 }), PONG, TIMEOUT)).toEqual({ ok: true, reasons: [] })
  })

  it('names the relay: never connected (with the last error), disconnected, connected but failing', () => {
    const never = readiness(running(relay({ connected: false, connects: 0, lastError: 'socket error: connect ECONNREFUSED 127.0.0.1:9' })), PONG, TIMEOUT)
    expect(never).toEqual({ ok: false, reasons: ['relay never connected (socket error: connect ECONNREFUSED 127.0.0.1:9)'] })
    expect(readiness(running(relay({ connected: false, connects: 3 })), PONG, TIMEOUT).reasons).toEqual(['relay disconnected'])
    const oversized = readiness(running(relay({ lastError: 'relay sent a message over the 16777216-byte limit' })), PONG, TIMEOUT)
    expect(oversized.reasons).toEqual(['relay connected but failing, no frame since: relay sent a message over the 16777216-byte limit'])
  })

  it('names Redis: connection not ready, or not answering the probe (a frozen Redis keeps its connection ready)', () => {
    expect(readiness(running({ redis: { ready: false, writesFailingForMs: null, lastError: null } }), PONG, TIMEOUT).reasons).toEqual(['redis connection not ready'])
    expect(readiness(running({ redis: { ready: false, writesFailingForMs: null, lastError: 'getaddrinfo ENOTFOUND nohost' } }), PONG, TIMEOUT).reasons).toEqual([
      'redis connection not ready: getaddrinfo ENOTFOUND nohost',
    ])
    expect(readiness(running({ redis: { ready: false, writesFailingForMs: 31_000, lastError: null } }), PONG, TIMEOUT).reasons).toEqual(['redis writes failing or unanswered for 31.0 s'])
    const frozen = readiness(running(), { ok: false, ms: null, error: 'no PING reply within 1000 ms' }, TIMEOUT)
    expect(frozen).toEqual({ ok: false, reasons: ['redis not answering: no PING reply within 1000 ms'] })
  })

  it('fails when frames have waited longer than the write timeout since both their arrival and the last acknowledged write', () => {
    const waiting = (pendingAgoMs: number, ackAgoMs: number): string[] => readiness(running({ pendingSinceMs: NOW - pendingAgoMs, lastAckAtMs: NOW - ackAgoMs }), PONG, TIMEOUT).reasons
    expect(waiting(12_000, 60_000)).toEqual(['no write acknowledged for 12.0 s while frames wait (limit 10.0 s)'])
    expect(waiting(5_000, 60_000)).toEqual([]) // first frame after an idle hour: not stuck yet
    expect(waiting(60_000, 2_000)).toEqual([]) // a backlog draining: writes keep being acknowledged
  })

  it('names a full stream (safe trim waiting for consumer groups)', () => {
    expect(readiness(running({ streamFull: true }), PONG, TIMEOUT).reasons).toEqual(['stream full: writes wait until consumer groups acknowledge entries (safe trim at --max-len)'])
  })

  it('while starting or stopping also says so, after the liveness reasons', () => {
    const starting = readiness(running({ state: 'starting', redis: { ready: false, writesFailingForMs: null, lastError: null }, ...relay({ connected: false, connects: 0 }) }), PONG, TIMEOUT)
    expect(starting.reasons).toEqual(['starting: waiting for Redis to read the stored cursor', 'relay never connected', 'redis connection not ready'])
    expect(readiness(running({ state: 'stopping', stoppedBy: 'stop' }), PONG, TIMEOUT).reasons[0]).toBe('stopping (stop): draining the queue')
  })
})

describe('IngestorMetrics', () => {
  const info: StreamInfo = {
    stream: 's',
    deadLetterStream: 's:dead',
    length: 41,
    deadLetterLength: 2,
    groups: [{ name: 'firehose-processors', consumers: 2, pending: 5, lag: 30, oldestUnreadAgeSeconds: 7.5 }],
    repoCount: null,
  }
  const metrics = (status: IngestorStatus, streamInfo: StreamInfo | null, ping: RedisPing = PONG): IngestorMetrics =>
    new IngestorMetrics({
      status: () => status,
      probe: { ping: async () => ping, streamInfo: async () => (streamInfo === null ? null : [streamInfo]) },
      live: () => liveness(status),
      ready: async () => readiness(status, ping, TIMEOUT),
    })

  it('exports every IngestorCounters field as firehose_<snake>_total, including ones it does not know', async () => {
    const counters = { ...emptyCounters(), eventsWritten: 41, skippedKnown: 3, someCounterAddedLater: 9 }
    const samples = parsePrometheus(await metrics(running({ counters }), info).render())
    expect(sample(samples, 'firehose_events_written_total')).toBe(41)
    expect(sample(samples, 'firehose_skipped_known_total')).toBe(3)
    expect(sample(samples, 'firehose_some_counter_added_later_total')).toBe(9)
    for (const key of Object.keys(emptyCounters()))
      expect(
        samples.some((s) => s.name === `firehose_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`),
        key,
      ).toBe(true)
  })

  it('with per-repo state: repos by sync state (stored repos from HLEN; desynchronized = waiting in the queue or out their backoff; resyncing = being fetched)', async () => {
    const repoSync = { pendingResyncs: 2, resyncing: 1, heldEvents: 7, retriesScheduled: 1, statesCached: 9, backfill: null }
    const samples = parsePrometheus(await metrics(running({ repoSync }), { ...info, repoCount: 10 }).render())
    expect([
      sample(samples, 'firehose_repo_states', { state: 'synchronized' }),
      sample(samples, 'firehose_repo_states', { state: 'desynchronized' }),
      sample(samples, 'firehose_repo_states', { state: 'resyncing' }),
    ]).toEqual([6, 3, 1])
    expect([sample(samples, 'firehose_repo_held_events'), sample(samples, 'firehose_repo_resyncs_pending')]).toEqual([7, 2])
    // Without per-repo state none of these exist.
    const off = parsePrometheus(await metrics(running(), info).render())
    expect(off.some((s) => s.name.startsWith('firehose_repo_states') || s.name === 'firehose_repo_held_events')).toBe(false)
  })

  it('with a backfill: its repos by state, from the counters the feed last read (listed, done, failing, inactive waiting, outstanding)', async () => {
    const backfill = { listed: 100, inactive: 10, done: 60, failing: 5, reactivated: 4, records: 9_000 }
    const repoSync = { pendingResyncs: 0, resyncing: 0, heldEvents: 0, retriesScheduled: 0, statesCached: 0, backfill }
    const samples = parsePrometheus(await metrics(running({ repoSync }), { ...info, repoCount: 10 }).render())
    expect(['listed', 'done', 'failing', 'inactive', 'outstanding'].map((state) => sample(samples, 'firehose_backfill_repos', { state }))).toEqual([100, 60, 5, 6, 29])
    const none = parsePrometheus(await metrics(running({ repoSync: { ...repoSync, backfill: null } }), { ...info, repoCount: 10 }).render())
    expect(none.some((s) => s.name === 'firehose_backfill_repos')).toBe(false)
  })

  it('builds the status once per scrape, and each scrape sees the status of its time', async () => {
    let calls = 0
    let cursor = 41
    const m = new IngestorMetrics({
      status: () => (calls++, running({ storedCursor: cursor })),
      probe: { ping: async () => PONG, streamInfo: async () => [info] },
      live: () => ({ ok: true, reasons: [] }),
      ready: async () => ({ ok: true, reasons: [] }),
    })
    calls = 0
    expect(sample(parsePrometheus(await m.render()), 'firehose_cursor')).toBe(41)
    expect(calls).toBe(1)
    cursor = 42
    expect(sample(parsePrometheus(await m.render()), 'firehose_cursor')).toBe(42)
    expect(calls).toBe(2)
  })

  it('exports by-type, by-code, lag, cursor, queue and per-group figures from status and the probe', async () => {
    const m = metrics(running(), info)
    m.observeWrite(3)
    m.observeWrite(40)
    const samples = parsePrometheus(await m.render())
    expect(sample(samples, 'firehose_events_total', { type: 'commit' })).toBe(40)
    expect(sample(samples, 'firehose_event_bytes_total', { type: 'identity' })).toBe(300)
    expect(sample(samples, 'firehose_decode_errors_total', { code: 'UnexpectedEnd' })).toBe(2)
    expect(sample(samples, 'firehose_relay_bytes_received_total')).toBe(90_000)
    expect(sample(samples, 'firehose_cursor')).toBe(41)
    expect(sample(samples, 'firehose_receive_lag_seconds')).toBe(0.012)
    expect(sample(samples, 'firehose_event_lag_seconds')).toBe(90_000)
    expect(sample(samples, 'firehose_write_duration_seconds_count')).toBe(2)
    expect(sample(samples, 'firehose_write_duration_seconds_bucket', { le: '0.005' })).toBe(1)
    expect(sample(samples, 'firehose_stream_length', { stream: 's' })).toBe(41)
    expect(sample(samples, 'firehose_stream_length', { stream: 's:dead' })).toBe(2)
    expect(sample(samples, 'firehose_group_oldest_unread_age_seconds', { group: 'firehose-processors' })).toBe(7.5)
    expect(sample(samples, 'firehose_group_lag_entries', { group: 'firehose-processors' })).toBe(30)
    expect(sample(samples, 'firehose_group_pending_entries', { group: 'firehose-processors' })).toBe(5)
    expect([sample(samples, 'firehose_redis_up'), sample(samples, 'firehose_ready'), sample(samples, 'firehose_live')]).toEqual([1, 1, 1])
    expect([sample(samples, 'firehose_backpressure'), sample(samples, 'firehose_stream_full')]).toEqual([0, 0])
  })

  it('with shards: a length per shard stream and dead-letter stream, and each group over all shards (worst age, summed pending and lag)', async () => {
    const shard = (i: number, length: number, group: StreamInfo['groups'][number]): StreamInfo => ({ stream: `s:${i}`, deadLetterStream: `s:dead:{s:${i}}`, length, deadLetterLength: i, groups: [group], repoCount: null })
    const shards = [
      shard(0, 10, { name: 'g', consumers: 1, pending: 2, lag: 3, oldestUnreadAgeSeconds: 1.5 }),
      shard(1, 20, { name: 'g', consumers: 2, pending: 4, lag: 5, oldestUnreadAgeSeconds: 9 }),
      shard(2, 30, { name: 'g', consumers: 1, pending: 0, lag: null, oldestUnreadAgeSeconds: 0 }),
    ]
    const m = new IngestorMetrics({
      status: () => running(),
      probe: { ping: async () => PONG, streamInfo: async () => shards },
      live: () => ({ ok: true, reasons: [] }),
      ready: async () => ({ ok: true, reasons: [] }),
    })
    const samples = parsePrometheus(await m.render())
    expect([0, 1, 2].map((i) => sample(samples, 'firehose_stream_length', { stream: `s:${i}` }))).toEqual([10, 20, 30])
    expect([0, 1, 2].map((i) => sample(samples, 'firehose_stream_length', { stream: `s:dead:{s:${i}}` }))).toEqual([0, 1, 2])
    expect(sample(samples, 'firehose_group_oldest_unread_age_seconds', { group: 'g' })).toBe(9)
    expect(sample(samples, 'firehose_group_pending_entries', { group: 'g' })).toBe(6)
    expect(sample(samples, 'firehose_group_consumers', { group: 'g' })).toBe(2)
    // One shard cannot tell its lag: the sum is unknown, not a low number.
    expect(sample(samples, 'firehose_group_lag_entries', { group: 'g' })).toBeUndefined()
  })

  it('leaves out what Redis did not answer and says so in firehose_redis_up; unknown values are NaN, not 0', async () => {
    const samples = parsePrometheus(await metrics(running({ storedCursor: null, eventLagMs: null }), null, { ok: false, ms: null, error: 'no PING reply within 1000 ms' }).render())
    expect(sample(samples, 'firehose_redis_up')).toBe(0)
    expect(sample(samples, 'firehose_ready')).toBe(0)
    expect(samples.filter((s) => s.name === 'firehose_stream_length' || s.name.startsWith('firehose_group_') || s.name === 'firehose_redis_ping_seconds')).toEqual([])
    expect(sample(samples, 'firehose_cursor')).toBeNaN()
    expect(sample(samples, 'firehose_event_lag_seconds')).toBeNaN()
  })
})

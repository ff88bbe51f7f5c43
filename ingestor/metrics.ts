import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { inactiveWaiting, outstanding } from '../repo-sync/backfill-fields.js'
import type { Verdict } from './readiness.js'
import type { GroupInfo, RedisProbe, StreamInfo } from './redis-probe.js'
import type { IngestorStatus } from './status.js'

export interface MetricsSources {
  status: () => IngestorStatus
  /** Only what /metrics asks of Redis (a narrow type so units can feed it fixed answers). */
  probe: Pick<RedisProbe, 'ping' | 'streamInfo'>
  live: () => Verdict
  ready: () => Promise<Verdict>
}

/** Seconds; a local Redis answers in well under a millisecond, a far or loaded one in tens of ms. */
const WRITE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

type Labels = Record<string, string>

/**
 * Prometheus metrics (`GET /metrics`). Values are read from status() at scrape time, so nothing
 * here can drift from what /health, /ready and the status line say; every counter in
 * IngestorCounters is exported as `firehose_<snake_case>_total` without being listed here. Stream
 * and group figures are asked of Redis per scrape through the probe (bounded and cached); when
 * Redis does not answer they are left out and `firehose_redis_up` is 0.
 */
export class IngestorMetrics {
  readonly registry = new Registry()
  private readonly writeSeconds: Histogram
  /** One status() per scrape, shared by every metric (status() builds a whole object). */
  private scrapeStatus: IngestorStatus | null = null

  constructor(sources: MetricsSources) {
    const { probe } = sources
    const status = (): IngestorStatus => (this.scrapeStatus ??= sources.status())
    const r = this.registry
    collectDefaultMetrics({ register: r }) // process_* and nodejs_* (RSS, event loop lag, GC)

    gauge(r, 'firehose_live', '1 while /health answers 200', () => (sources.live().ok ? 1 : 0))
    asyncGauge(r, 'firehose_ready', '1 while /ready answers 200', [], async () => [[{}, (await sources.ready()).ok ? 1 : 0]])
    counter(r, 'firehose_events_total', 'stream entries written (acknowledged by Redis), by event type', ['type'], () => Object.entries(status().writtenByType).map(([type, tally]) => [{ type }, tally.events]))
    counter(r, 'firehose_event_bytes_total', 'raw relay frame bytes of the entries written, by event type', ['type'], () => Object.entries(status().writtenByType).map(([type, tally]) => [{ type }, tally.bytes]))
    counter(r, 'firehose_decode_errors_total', 'malformed frames dead-lettered, by decode error code', ['code'], () => Object.entries(status().deadLettersByCode).map(([code, n]) => [{ code }, n]))
    const relayCounter = (field: 'connects' | 'reconnects' | 'bytesReceived' | 'stalls' | 'oversizedMessages' | 'textMessagesIgnored' | 'failovers' | 'primaryReturns', help: string): void =>
      counter(r, `firehose_relay_${snake(field)}_total`, help, [], () => [[{}, status().relay[field]]])
    relayCounter('connects', 'relay connections opened')
    relayCounter('reconnects', 'relay connection attempts after the first')
    relayCounter('bytesReceived', 'binary message bytes received from the relay')
    relayCounter('stalls', 'relay connections dropped because no frame came for --stall-timeout')
    relayCounter('oversizedMessages', 'relay messages over the WebSocket limit (each ends the connection)')
    relayCounter('textMessagesIgnored', 'text messages from the relay, ignored')
    relayCounter('failovers', 'switches to the next relay after failed connects in a row or a stall (--relay given more than once)')
    relayCounter('primaryReturns', 'switches back to the primary relay after a probe found it healthy')
    asyncGauge(r, 'firehose_relay_active', '1 for the relay (host[:port]) ingested from now', ['relay'], async () => [[{ relay: status().relay.active }, 1]])
    gauge(r, 'firehose_relay_connected', '1 while the relay WebSocket is open', () => (status().relay.connected ? 1 : 0))
    gauge(r, 'firehose_backpressure', '1 while the relay socket is paused because the pipeline cannot take more', () => (status().relay.paused ? 1 : 0))
    if (status().lease !== null) gauge(r, 'firehose_leader', '--ha: 1 while this ingestor holds the lease (writes), 0 while a standby', () => (status().lease?.held === true ? 1 : 0))
    gauge(r, 'firehose_stream_full', '1 while writes wait for consumer groups to acknowledge entries (safe trim at --max-len)', () => (status().streamFull ? 1 : 0))
    gauge(r, 'firehose_cursor', 'the cursor (seq) Redis holds as far as the ingestor knows', () => status().storedCursor)
    gauge(r, 'firehose_position', 'highest seq accepted from the relay (the reconnect cursor)', () => status().position)
    gauge(r, 'firehose_event_lag_seconds', 'now - `time` of the last written event (relay clock; old for replayed fixtures)', () => seconds(status().eventLagMs))
    gauge(r, 'firehose_receive_lag_seconds', 'now - receive time of the oldest frame not yet written; when none waits, the last frame’s receive-to-ack time', () => seconds(status().receiveLagMs))
    gauge(r, 'firehose_last_ack_timestamp_seconds', 'when Redis last acknowledged a write (unix time)', () => seconds(status().lastAckAtMs))
    gauge(r, 'firehose_queue_frames', 'frames queued between the socket and the decoder', () => status().queue.frames)
    gauge(r, 'firehose_queue_bytes', 'raw bytes queued between the socket and the decoder', () => status().queue.bytes)
    gauge(r, 'firehose_queue_max_frames', 'queue bound in frames (--queue-size)', () => status().queue.maxFrames)
    gauge(r, 'firehose_queue_max_bytes', 'queue bound in bytes (--queue-mb)', () => status().queue.maxBytes)
    gauge(r, 'firehose_decoded_batches', 'decoded batches waiting for the writer', () => status().queue.decodedBatches)
    if (status().repoSync !== null) {
      gauge(r, 'firehose_repo_resyncs_pending', '--repo-state: repos waiting for a resync', () => status().repoSync?.pendingResyncs ?? null)
      gauge(r, 'firehose_repo_resyncing', '--repo-state: repos being resynced now', () => status().repoSync?.resyncing ?? null)
      gauge(r, 'firehose_repo_held_events', '--repo-state: events held while their repo resyncs', () => status().repoSync?.heldEvents ?? null)
      gauge(r, 'firehose_repo_resync_retries_scheduled', '--repo-state: repos whose resync failed, waiting out their backoff', () => status().repoSync?.retriesScheduled ?? null)
      gauge(r, 'firehose_repo_states_cached', '--repo-state: repo states believed in memory (--repo-state-cache-size)', () => status().repoSync?.statesCached ?? null)
    }
    this.writeSeconds = new Histogram({ name: 'firehose_write_duration_seconds', help: 'duration of each write script call Redis answered', buckets: WRITE_BUCKETS, registers: [r] })

    asyncGauge(r, 'firehose_redis_up', '1 when Redis answered a PING within the probe timeout', [], async () => [[{}, (await probe.ping()).ok ? 1 : 0]])
    asyncGauge(r, 'firehose_redis_ping_seconds', 'round trip of the last probe PING', [], async () => {
      const ping = await probe.ping()
      return ping.ms === null ? [] : [[{}, ping.ms / 1000]]
    })
    const info = () => probe.streamInfo()
    asyncGauge(r, 'firehose_stream_length', 'XLEN of the stream and of its dead-letter stream', ['stream'], async () => {
      const shards = (await info()) ?? []
      return shards.flatMap((shard): [Labels, number][] => [
        [{ stream: shard.stream }, shard.length],
        [{ stream: shard.deadLetterStream }, shard.deadLetterLength],
      ])
    })
    const perGroup = (name: string, help: string, read: (group: GroupInfo) => number | null): void =>
      asyncGauge(r, name, help, ['group'], async () =>
        groupsOverShards((await info()) ?? []).flatMap((group) => {
          const value = read(group)
          return value === null ? [] : [[{ group: group.name }, value] as [Labels, number]]
        }),
      )
    if (status().repoSync !== null) {
      // Resyncing: being fetched now; desynchronized: waiting in the queue or out their backoff (repos a
      // sweep has still to find are counted as synchronized until it does); synchronized: the rest stored.
      asyncGauge(r, 'firehose_repo_states', 'repos with a stored per-repo state, by sync state', ['state'], async () => {
        const repo = status().repoSync
        const counts = ((await info()) ?? []).map((shard) => shard.repoCount)
        if (repo === null || counts.some((count) => count === null)) return []
        const total = counts.reduce<number>((sum, count) => sum + count!, 0)
        const desynchronized = repo.pendingResyncs + repo.retriesScheduled
        return [
          [{ state: 'synchronized' }, Math.max(0, total - desynchronized - repo.resyncing)],
          [{ state: 'desynchronized' }, desynchronized],
          [{ state: 'resyncing' }, repo.resyncing],
        ]
      })
    }
    if (status().repoSync !== null) {
      asyncGauge(r, 'firehose_backfill_repos', 'backfill (docs/backfill.md): repos listed, done, failing, inactive (waiting for their account) and outstanding, as last read from Redis', ['state'], async () => {
        const counts = status().repoSync?.backfill ?? null
        if (counts === null) return []
        return [
          [{ state: 'listed' }, counts.listed],
          [{ state: 'done' }, counts.done],
          [{ state: 'failing' }, counts.failing],
          [{ state: 'inactive' }, inactiveWaiting(counts)],
          [{ state: 'outstanding' }, outstanding(counts)],
        ]
      })
    }
    perGroup('firehose_group_oldest_unread_age_seconds', 'age of the oldest entry not yet delivered to the group (0 when none)', (g) => g.oldestUnreadAgeSeconds)
    perGroup('firehose_group_lag_entries', 'entries not yet delivered to the group (XINFO GROUPS lag)', (g) => g.lag)
    perGroup('firehose_group_pending_entries', 'entries delivered to the group and not acknowledged', (g) => g.pending)
    perGroup('firehose_group_consumers', 'consumers in the group', (g) => g.consumers)

    // Every IngestorCounters field, including ones added later, without listing them here.
    for (const key of Object.keys(status().counters) as (keyof IngestorStatus['counters'])[]) {
      const name = `firehose_${snake(key)}_total`
      if (r.getSingleMetric(name) === undefined) counter(r, name, `IngestorCounters.${key} (ingestor/status.ts)`, [], () => [[{}, status().counters[key]]])
    }
  }

  get contentType(): string {
    return this.registry.contentType
  }

  observeWrite(durationMs: number): void {
    this.writeSeconds.observe(durationMs / 1000)
  }

  async render(): Promise<string> {
    this.scrapeStatus = null
    try {
      return await this.registry.metrics()
    } finally {
      this.scrapeStatus = null
    }
  }
}

/** A counter whose value is read at scrape time (prom-client counters only count up, hence reset + inc). */
function counter(registry: Registry, name: string, help: string, labelNames: string[], read: () => [Labels, number][]): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset()
      for (const [labels, value] of read()) this.inc(labels, value)
    },
  })
}

/** null (unknown, e.g. no write yet) is exported as NaN rather than a misleading 0. */
function gauge(registry: Registry, name: string, help: string, read: () => number | null): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read() ?? Number.NaN)
    },
  })
}

/** A gauge read from Redis or another async source; samples it cannot read are left out. */
function asyncGauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Promise<[Labels, number][]>): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const samples = await read()
      this.reset()
      if (labelNames.length === 0 && samples.length === 0) this.remove() // no sample rather than a made-up 0
      for (const [labels, value] of samples) this.set(labels, value)
    },
  })
}

/** A group's figures over every shard stream (one group name per shard): the worst age, the sums of entries, the most consumers. */
function groupsOverShards(shards: readonly StreamInfo[]): GroupInfo[] {
  const merged = new Map<string, GroupInfo>()
  for (const group of shards.flatMap((shard) => shard.groups)) {
    const seen = merged.get(group.name)
    if (seen === undefined) merged.set(group.name, { ...group })
    else {
      seen.consumers = Math.max(seen.consumers, group.consumers)
      seen.pending += group.pending
      seen.lag = seen.lag === null || group.lag === null ? null : seen.lag + group.lag
      seen.oldestUnreadAgeSeconds = Math.max(seen.oldestUnreadAgeSeconds, group.oldestUnreadAgeSeconds)
    }
  }
  return [...merged.values()]
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}

function seconds(ms: number | null): number | null {
  return ms === null ? null : ms / 1000
}

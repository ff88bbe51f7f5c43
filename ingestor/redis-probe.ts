import { once } from 'node:events'
import type { RedisPing } from './readiness.js'
import { duplicateClient, type RedisClient } from '../common/redis-client.js'
import type { ShardKeys } from './redis-sink.js'

export interface GroupInfo {
  name: string
  consumers: number
  /** Delivered to a consumer, not acknowledged yet. */
  pending: number
  /** Entries not delivered to the group yet (Redis 7 `lag`; null when Redis cannot tell). */
  lag: number | null
  /** Age of the first entry after the group's last-delivered-id, from its ID; 0 when none is unread. */
  oldestUnreadAgeSeconds: number
}

/** One shard's stream (the stream, without shards). */
export interface StreamInfo {
  stream: string
  deadLetterStream: string
  length: number
  deadLetterLength: number
  groups: GroupInfo[]
  /** With per-repo state: repos with a stored state in the shard's hash (HLEN); null without. */
  repoCount: number | null
}

/** How long a probe may take before Redis counts as not answering. */
export const PROBE_TIMEOUT_MS = 1000
/** Requests within this long share one probe, so a flood of /ready or /metrics requests costs Redis one. */
export const PROBE_CACHE_MS = 1000
/** Groups reported per stream (bounds the commands per scrape and the label values). */
export const MAX_GROUPS = 32

/**
 * Asks Redis, on a connection of its own, whether it answers and how far the consumer groups
 * are behind. At most one probe of each kind is in flight, each is bounded by PROBE_TIMEOUT_MS,
 * and a probe that times out drops its connection, so a frozen Redis never queues more than one
 * unanswered probe.
 */
export class RedisProbe {
  private readonly redis: RedisClient
  private readonly pingCache: Cached<RedisPing>
  private readonly infoCache: Cached<StreamInfo[] | null>

  constructor(
    /** The writer's connection: the probe copies its options (URL, TLS, backoff), not its socket. */
    writer: RedisClient,
    /** Index = shard. */
    private readonly shards: readonly ShardKeys[],
    /** Per-repo state is on: count each shard's repo states too. */
    private readonly repoState = false,
  ) {
    this.redis = duplicateClient(writer, { connectionName: 'firehose-probe' })
    // The writer's connection logs outages; the probe's errors surface in its results.
    this.redis.on('error', () => undefined)
    this.pingCache = new Cached(PROBE_CACHE_MS, () => this.loadPing())
    this.infoCache = new Cached(PROBE_CACHE_MS, () => this.loadStreamInfo())
  }

  ping(): Promise<RedisPing> {
    return this.pingCache.get()
  }

  /** Per shard; null when Redis did not answer in time (or at all). */
  streamInfo(): Promise<StreamInfo[] | null> {
    return this.infoCache.get()
  }

  close(): void {
    this.redis.disconnect()
  }

  private async loadPing(): Promise<RedisPing> {
    const started = performance.now()
    try {
      await this.bounded(async (signal) => {
        await this.connected(signal)
        await this.redis.ping()
      }, 'PING')
      return { ok: true, ms: Math.round((performance.now() - started) * 10) / 10, error: null }
    } catch (err) {
      return { ok: false, ms: null, error: err instanceof Error ? err.message : String(err) }
    }
  }

  private async loadStreamInfo(): Promise<StreamInfo[] | null> {
    try {
      return await this.bounded(async (signal) => {
        await this.connected(signal)
        return Promise.all(this.shards.map((keys) => this.readStreamInfo(keys)))
      }, 'XLEN/XINFO')
    } catch {
      return null
    }
  }

  /** One pipeline per shard: its keys share a hash slot, as a cluster pipeline needs. */
  private async readStreamInfo(keys: ShardKeys): Promise<StreamInfo> {
    const pipeline = this.redis.pipeline().xlen(keys.stream).xlen(keys.deadLetterStream).xinfo('GROUPS', keys.stream)
    if (this.repoState) pipeline.hlen(keys.repoStates)
    const [length, deadLetterLength, groupsReply, repoCount] = (await pipeline.exec()) ?? []
    const noStream = groupsReply?.[0]?.message.includes('no such key') === true
    const groups = noStream ? [] : (replyValue(groupsReply) as unknown[][]).slice(0, MAX_GROUPS).map(parseGroup)
    const firstUnread = this.redis.pipeline()
    // '(' makes the start exclusive: the first entry the group has not been given yet.
    for (const group of groups) firstUnread.xrange(keys.stream, `(${group.lastDeliveredId}`, '+', 'COUNT', 1)
    const firstIds = groups.length === 0 ? [] : ((await firstUnread.exec()) ?? []).map((reply) => (replyValue(reply) as [string, string[]][])[0]?.[0])
    const nowMs = Date.now()
    return {
      ...keys,
      length: Number(replyValue(length)),
      deadLetterLength: Number(replyValue(deadLetterLength)),
      repoCount: repoCount === undefined ? null : Number(replyValue(repoCount)),
      groups: groups.map(({ lastDeliveredId: _, ...group }, i) => {
        const firstId = firstIds[i]
        const oldestUnreadAgeSeconds = firstId === undefined ? 0 : Math.max(0, (nowMs - Number(firstId.split('-')[0])) / 1000)
        return { ...group, oldestUnreadAgeSeconds }
      }),
    }
  }

  /** The probe's connection is new at start-up and after a timeout: wait for it rather than fail at once. */
  private async connected(signal: AbortSignal): Promise<void> {
    // Rejects with the connection's error (e.g. ECONNREFUSED) or when the probe times out.
    if (this.redis.status !== 'ready') await once(this.redis, 'ready', { signal })
  }

  private bounded<T>(work: (signal: AbortSignal) => Promise<T>, what: string): Promise<T> {
    const abort = new AbortController()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const hadConnection = this.redis.status === 'ready'
        abort.abort()
        // Drop the connection and with it the unanswered command (ioredis rejects it): nothing piles up.
        if (hadConnection) this.redis.disconnect(true)
        reject(new Error(hadConnection ? `no ${what} reply within ${PROBE_TIMEOUT_MS} ms` : `not connected within ${PROBE_TIMEOUT_MS} ms`))
      }, PROBE_TIMEOUT_MS)
    })
    const running = work(abort.signal)
    running.catch(() => undefined) // settled after a timeout: already reported
    return Promise.race([running, timeout]).finally(() => clearTimeout(timer))
  }
}

/** A pipeline reply's value; its error thrown. */
function replyValue(reply: [Error | null, unknown] | undefined): unknown {
  if (reply === undefined) throw new Error('no reply')
  if (reply[0] !== null) throw reply[0]
  return reply[1]
}

function parseGroup(reply: unknown[]): { name: string; consumers: number; pending: number; lastDeliveredId: string; lag: number | null } {
  const fields = new Map<string, string | number | null>() // XINFO GROUPS values: bulk strings, integers, nil
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1] as string | number | null)
  const lag = fields.get('lag')
  return {
    name: String(fields.get('name')),
    consumers: Number(fields.get('consumers') ?? 0),
    pending: Number(fields.get('pending') ?? 0),
    lastDeliveredId: String(fields.get('last-delivered-id') ?? '0-0'),
    lag: lag === null || lag === undefined ? null : Number(lag),
  }
}

/** One load in flight at a time; its result is reused for maxAgeMs. `load` must not reject. */
class Cached<T> {
  private last: { atMs: number; value: T } | null = null
  private running: Promise<T> | null = null

  constructor(
    private readonly maxAgeMs: number,
    private readonly load: () => Promise<T>,
  ) {}

  get(): Promise<T> {
    if (this.running !== null) return this.running
    if (this.last !== null && performance.now() - this.last.atMs < this.maxAgeMs) return Promise.resolve(this.last.value)
    this.running = this.load()
      .then((value) => {
        this.last = { atMs: performance.now(), value }
        return value
      })
      .finally(() => (this.running = null))
    return this.running
  }
}

import { ensureConsumerGroup } from '../common/consumer-group.js'
import type { Logger } from '../common/logger.js'
import { deadLetter, type DeadLetterReason } from './dead-letter.js'
import { parseEntry, type EntryReading, type StreamEvent } from './events.js'
import type { ResolvedConsumerOptions } from './options.js'
import { ownClient, type RedisClient, type RedisConnection } from './redis-client.js'

export interface GroupCounters {
  /** Entries read new (XREADGROUP `>`). */
  read: number
  /** Entries reclaimed from idle consumers (XAUTOCLAIM). */
  claimed: number
  acked: number
  deadLettered: number
  malformed: number
  /** Entries of a type this version does not know: acked and skipped. */
  unknownTypes: number
}

type GroupOptions = Pick<ResolvedConsumerOptions, 'cluster' | 'stream' | 'group' | 'deadLetterStream' | 'deadLetterMaxLen' | 'maxDeliveries'>
type RawEntry = { messageId: string; fields: string[]; deliveries: number }
type EntryReply = [id: string, fields: string[]]

/**
 * The Redis side of one consumer group: read, reclaim, ack, dead-letter. Every call takes the
 * consumer name, so the legacy adapter can name consumers per call as redis-queue.ts did.
 */
export class StreamGroup {
  readonly counters: GroupCounters = { read: 0, claimed: 0, acked: 0, deadLettered: 0, malformed: 0, unknownTypes: 0 }
  /** The exact fields each handed-out event came from, for a byte-exact dead-letter copy. */
  private readonly raw = new WeakMap<StreamEvent, RawEntry>()

  private readonly redis: RedisClient
  private connected: Promise<void> | null = null

  constructor(
    redis: RedisConnection,
    private readonly options: GroupOptions,
    private readonly logger: Logger,
    private readonly reading: EntryReading = 'snapshots',
  ) {
    this.redis = ownClient(redis, options.cluster)
    this.redis.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'redis connection error'))
  }

  /** Connects and creates the group when missing. Idempotent; after a failure the next call tries again. */
  ready(): Promise<void> {
    this.connected ??= (async () => {
      if (this.redis.status === 'wait') await this.redis.connect()
      await this.ensureGroup()
    })().catch((err: unknown) => {
      this.connected = null
      throw err
    })
    return this.connected
  }

  async close(): Promise<void> {
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect())
    else this.redis.disconnect() // not connected: nothing to quit, and no reconnecting either
  }

  private ensureGroup(): Promise<void> {
    return ensureConsumerGroup(this.redis, this.options.stream, this.options.group)
  }

  /** Up to `count` new entries for `consumer`, waiting at most blockMs. */
  async read(consumer: string, count: number, blockMs: number): Promise<StreamEvent[]> {
    const { stream, group } = this.options
    const reply = await this.recreatingGroup(() => this.redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>') as Promise<[string, EntryReply[]][] | null>, null)
    const entries = reply?.[0]?.[1] ?? []
    this.counters.read += entries.length
    return this.sort(
      consumer,
      entries.map(([messageId, fields]) => ({ messageId, fields, deliveries: 1 })),
    )
  }

  /**
   * One XAUTOCLAIM page: up to `count` entries idle for minIdleMs move to `consumer`. Entries
   * already delivered maxDeliveries times are dead-lettered instead of returned. Returns the
   * cursor for the next page ('0-0' when the pending list has been walked through).
   */
  async claim(consumer: string, minIdleMs: number, cursor: string, count: number): Promise<{ cursor: string; events: StreamEvent[] }> {
    const { stream, group, maxDeliveries } = this.options
    const reply = await this.recreatingGroup(() => this.redis.xautoclaim(stream, group, consumer, minIdleMs, cursor, 'COUNT', count) as Promise<[string, (EntryReply | null)[]]>, ['0-0', []])
    // Redis 6.2 returns nil for entries deleted (trimmed) while pending; 7.0 drops them.
    const claimed = reply[1].filter((entry): entry is EntryReply => entry !== null)
    this.counters.claimed += claimed.length
    const deliveries = await this.deliveryCounts(claimed.map(([id]) => id))
    const live: RawEntry[] = []
    for (const [messageId, fields] of claimed) {
      const entry = { messageId, fields, deliveries: deliveries.get(messageId) ?? 1 }
      if (entry.deliveries > maxDeliveries) await this.deadLetter(consumer, entry, 'max-deliveries', '')
      else live.push(entry)
    }
    return { cursor: reply[0], events: await this.sort(consumer, live) }
  }

  async ack(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0
    const acked = await this.redis.xack(this.options.stream, this.options.group, ...ids)
    this.counters.acked += acked
    return acked
  }

  /**
   * A handler failed on `event`: on its last allowed delivery it is dead-lettered (true);
   * before that it stays pending, to be reclaimed after minIdleMs (false).
   */
  async reject(consumer: string, event: StreamEvent, error: string): Promise<boolean> {
    if (event.deliveries < this.options.maxDeliveries) return false
    const entry = this.raw.get(event)
    if (entry === undefined) throw new TypeError(`event ${event.messageId} was not read by this consumer`)
    return this.deadLetter(consumer, entry, 'handler-failed', error)
  }

  /** Parses entries: events are returned; malformed entries are dead-lettered, unknown types acked. */
  private async sort(consumer: string, entries: RawEntry[]): Promise<StreamEvent[]> {
    const events: StreamEvent[] = []
    const unknown: string[] = []
    for (const entry of entries) {
      const parsed = parseEntry(entry.messageId, entry.fields, entry.deliveries, this.reading)
      if (parsed.kind === 'event') {
        this.raw.set(parsed.event, entry)
        events.push(parsed.event)
      } else if (parsed.kind === 'unknown-type') {
        unknown.push(entry.messageId)
      } else {
        this.counters.malformed++
        this.logger.warn({ messageId: entry.messageId, reason: parsed.reason }, 'malformed stream entry dead-lettered')
        await this.deadLetter(consumer, entry, 'malformed', parsed.reason)
      }
    }
    this.counters.unknownTypes += unknown.length
    await this.ack(unknown)
    return events
  }

  private async deadLetter(consumer: string, entry: RawEntry, reason: DeadLetterReason, error: string): Promise<boolean> {
    const moved = await deadLetter(this.redis, this.options, entry, consumer, reason, error)
    if (moved) this.counters.deadLettered++
    return moved
  }

  /** XPENDING per id (pipelined): XAUTOCLAIM does not report how often an entry was delivered. */
  private async deliveryCounts(ids: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>()
    if (ids.length === 0) return counts
    const pipeline = this.redis.pipeline()
    for (const id of ids) pipeline.xpending(this.options.stream, this.options.group, id, id, 1)
    const results = (await pipeline.exec()) ?? []
    results.forEach(([err, reply], index) => {
      if (err !== null) throw err
      const row = (reply as [string, string, number, number][])[0]
      if (row !== undefined) counts.set(ids[index]!, row[3])
    })
    return counts
  }

  /** A Redis restarted without persistence, or a deleted key, loses the group: recreate it and report nothing this time. */
  private async recreatingGroup<T>(command: () => Promise<T>, empty: T): Promise<T> {
    try {
      return await command()
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOGROUP'))) throw err
      this.logger.warn({ stream: this.options.stream, group: this.options.group }, 'consumer group missing; recreating it')
      await this.ensureGroup()
      return empty
    }
  }
}

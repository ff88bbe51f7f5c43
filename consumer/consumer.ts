import { silentLogger, type Logger } from '../common/logger.js'
import { ConsumerError, ConsumerErrorCode } from './errors.js'
import type { StreamEvent } from './events.js'
import { pageSize, resolveConsumerOptions, type ConsumerOptions, type ResolvedConsumerOptions } from './options.js'
import { StreamGroup, type GroupCounters } from './stream-group.js'

export type EventHandler = (event: StreamEvent) => void | Promise<void>

export interface ConsumerStats extends GroupCounters {
  /** Handler calls that returned. */
  handled: number
  /** Handler calls that threw: not acked, delivered again after minIdleMs (or dead-lettered on the last delivery). */
  failed: number
  /** Redis errors in the start() loop (retried with backoff). */
  redisErrors: number
  /** Handlers running now (never above maxInFlight). */
  inFlight: number
}

/** Backoff after a Redis error in the loop; ioredis reconnects underneath. */
const RETRY_MIN_MS = 100
const RETRY_MAX_MS = 5_000

/**
 * A worker on the firehose stream: XREADGROUP in the group, typed events, ack after the
 * handler returns, XAUTOCLAIM of entries idle consumers left pending, dead-letter after
 * maxDeliveries, graceful stop. At least once: a handler may see an entry again after a crash.
 *
 * Drive it with start(handler)/stop(), or call consume()/ack()/claimPendingMessages() yourself
 * like redis-queue.ts (docs/consumer.md has the mapping).
 */
export class FirehoseConsumer {
  readonly options: ResolvedConsumerOptions
  private readonly group: StreamGroup
  private readonly logger: Logger
  private readonly counts = { handled: 0, failed: 0, redisErrors: 0, inFlight: 0 }
  private claimCursor = '0-0'
  private loop: Promise<void> | null = null
  private stopping = false
  private wake: (() => void) | null = null

  constructor(options: ConsumerOptions) {
    this.options = resolveConsumerOptions(options)
    this.logger = (this.options.logger ?? silentLogger).child({ component: 'consumer', consumer: this.options.consumer })
    this.group = new StreamGroup(this.options.redis, this.options, this.logger)
  }

  get stats(): ConsumerStats {
    return { ...this.group.counters, ...this.counts }
  }

  /** Connects and creates the group (from the stream's first entry, MKSTREAM) when missing. Idempotent. */
  connect(): Promise<void> {
    return this.group.ready()
  }

  /** One XREADGROUP of up to `count` (at most the option) new entries (BLOCK blockMs). Malformed entries are dead-lettered, unknown types acked. */
  async consume(count = this.options.count): Promise<StreamEvent[]> {
    await this.connect()
    return this.group.read(this.options.consumer, pageSize(count, this.options.count, this.options.count), this.options.blockMs)
  }

  /**
   * One XAUTOCLAIM page: up to `count` entries pending at least minIdleMs (any consumer's,
   * this one's too) move to this consumer and are returned; entries past maxDeliveries go to
   * the dead-letter stream instead. Successive calls walk the pending list.
   */
  async claimPendingMessages(minIdleMs = this.options.minIdleMs): Promise<StreamEvent[]> {
    await this.connect()
    const page = await this.group.claim(this.options.consumer, minIdleMs, this.claimCursor, this.options.count)
    this.claimCursor = page.cursor
    return page.events
  }

  /** XACK: the entries are done. Returns how many were still pending. */
  async ack(messageIds: string | readonly string[]): Promise<number> {
    await this.connect()
    return this.group.ack(typeof messageIds === 'string' ? [messageIds] : messageIds)
  }

  /**
   * For callers driving consume() themselves: `event` failed. On its last allowed delivery it
   * is dead-lettered (true); else it stays pending for a later reclaim (false).
   */
  async reject(event: StreamEvent, error: unknown): Promise<boolean> {
    await this.connect()
    return this.group.reject(this.options.consumer, event, error instanceof Error ? error.message : String(error))
  }

  /** Runs `handler` on every event until stop(). Resolves once connected and the group exists. */
  async start(handler: EventHandler): Promise<void> {
    if (this.loop !== null || this.stopping) throw new ConsumerError(ConsumerErrorCode.AlreadyStarted, 'FirehoseConsumer.start() may be called once', {})
    await this.connect()
    this.loop = this.run(handler)
  }

  /**
   * Graceful: no new reads or handler calls; handlers already running finish and are acked;
   * then the connection closes. Entries read but not started stay pending for a reclaim.
   */
  async stop(): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.loop
    await this.group.close()
  }

  private async run(handler: EventHandler): Promise<void> {
    let nextClaimAt = 0 // a pass at start-up picks up what crashed consumers left
    let retryMs = RETRY_MIN_MS
    while (!this.stopping) {
      try {
        let events: StreamEvent[]
        if (Date.now() >= nextClaimAt) {
          events = await this.claimPendingMessages()
          if (this.claimCursor === '0-0') nextClaimAt = Date.now() + this.options.claimIntervalMs
        } else {
          events = await this.consume()
        }
        await this.handleBatch(events, handler)
        retryMs = RETRY_MIN_MS
      } catch (err) {
        this.counts.redisErrors++
        this.logger.warn({ err: (err as Error).message, retryMs }, 'redis command failed; retrying')
        await this.pause(retryMs)
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS)
      }
    }
  }

  /** Up to maxInFlight handlers at once over one batch, then one XACK for those that returned. */
  private async handleBatch(events: readonly StreamEvent[], handler: EventHandler): Promise<void> {
    const done: string[] = []
    let next = 0
    const lane = async (): Promise<void> => {
      while (!this.stopping && next < events.length) {
        const event = events[next++]!
        this.counts.inFlight++
        try {
          await handler(event)
          this.counts.handled++
          done.push(event.messageId)
        } catch (err) {
          this.counts.failed++
          this.logger.warn({ messageId: event.messageId, seq: event.seq, deliveries: event.deliveries, err: (err as Error)?.message ?? String(err) }, 'handler failed; entry left pending')
          await this.reject(event, err).catch((rejectErr: unknown) => this.logger.warn({ err: (rejectErr as Error).message }, 'could not dead-letter; entry left pending'))
        } finally {
          this.counts.inFlight--
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.options.maxInFlight, events.length) }, lane))
    await this.ack(done)
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}

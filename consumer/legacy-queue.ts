import { silentLogger } from '../common/logger.js'
import type { StreamEvent } from './events.js'
import { pageSize, resolveConsumerOptions, type ConsumerOptions } from './options.js'
import { StreamGroup } from './stream-group.js'

/** redis-queue.ts's event shape: seq as a string, plus the entry ID as messageId. */
type Legacy<E> = E extends StreamEvent ? Omit<E, 'seq'> & { seq: string } : never
export type LegacyQueueEvent = Legacy<StreamEvent>

/** The consume/ack/claimPendingMessages part of redis-queue.ts's `redisQueue`, same signatures, defaults and error handling. */
export interface LegacyQueue {
  connect(): Promise<void>
  consume(consumerId: string, count?: number): Promise<LegacyQueueEvent[]>
  ack(messageId: string): Promise<void>
  claimPendingMessages(consumerId: string, idleTimeMs?: number): Promise<LegacyQueueEvent[]>
  disconnect(): Promise<void>
}

/** redis-queue.ts read 10 entries per call, blocked 100 ms, reclaimed after 30 s idle. */
const LEGACY = { count: 10, blockMs: 100, idleTimeMs: 30_000 }
/** Largest page a caller's `count` may ask for: bounds what one call holds. */
const MAX_COUNT = 1000

/**
 * A drop-in for `redisQueue` in PublicAppView's server/services/redis-queue.ts:
 * `export const redisQueue = createLegacyQueue({ redis: process.env.REDIS_URL ?? 'redis://localhost:6379' })`.
 * Same calls and event shape; like the original, consume/claim log a Redis error and return []
 * and ack logs it. Underneath is FirehoseConsumer's group code: malformed entries are
 * dead-lettered (the original acked them away), reclaims use XAUTOCLAIM, and entries past
 * maxDeliveries are dead-lettered instead of reclaimed forever.
 */
export function createLegacyQueue(options: Omit<ConsumerOptions, 'consumer' | 'count' | 'blockMs' | 'maxInFlight' | 'claimIntervalMs'>): LegacyQueue {
  const resolved = resolveConsumerOptions(options)
  const logger = (resolved.logger ?? silentLogger).child({ component: 'legacy-queue' })
  // As redis-queue.ts read them: a repo snapshot's record parts are commits, its begin and end an unknown type (acked, skipped).
  const group = new StreamGroup(resolved.redis, resolved, logger, 'as-written')
  let claimCursor = '0-0'
  const legacy = (events: StreamEvent[]): LegacyQueueEvent[] => events.map((event) => ({ ...event, seq: String(event.seq) }))
  const logged = async <T>(what: string, fallback: T, run: () => Promise<T>): Promise<T> => {
    try {
      await group.ready()
      return await run()
    } catch (err) {
      logger.error({ err: (err as Error).message }, `${what} failed`)
      return fallback
    }
  }

  return {
    connect: () => group.ready(),
    consume: (consumerId, count = LEGACY.count) => logged('consume', [], async () => legacy(await group.read(consumerId, pageSize(count, MAX_COUNT, LEGACY.count), LEGACY.blockMs))),
    ack: (messageId) => logged('ack', undefined, async () => void (await group.ack([messageId]))),
    claimPendingMessages: (consumerId, idleTimeMs = LEGACY.idleTimeMs) =>
      logged('claimPendingMessages', [], async () => {
        const page = await group.claim(consumerId, idleTimeMs, claimCursor, LEGACY.count)
        claimCursor = page.cursor
        return legacy(page.events)
      }),
    disconnect: () => group.close(),
  }
}

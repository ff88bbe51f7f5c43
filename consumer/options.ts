import { hostname } from 'node:os'
import type { Redis } from 'ioredis'
import { redactUrl, type Logger } from '../common/logger.js'
import { ConsumerError, ConsumerErrorCode } from './errors.js'

export interface ConsumerOptions {
  /** A redis:// URL, or an ioredis client (duplicated: blocking reads must not hold up the caller's commands). */
  redis: string | Redis
  /** This worker's name in the group. Default `<hostname>-<pid>`; a stable name (pod name) keeps XINFO CONSUMERS short. */
  consumer?: string
  /** Default `firehose:events`. */
  stream?: string
  /** Default `firehose-processors`; created (from the first entry, MKSTREAM) when missing. */
  group?: string
  /** Where entries that failed maxDeliveries times, or break the contract, go. Default `<stream>:dead-consumer`. */
  deadLetterStream?: string
  /** Bound of the dead-letter stream (MAXLEN ~). Default 10,000. */
  deadLetterMaxLen?: number
  /** Entries per XREADGROUP / XAUTOCLAIM call: bounds the entries held in memory. Default 100. */
  count?: number
  /** Handlers running at once (within one batch). Default 1: stream order. At most count. */
  maxInFlight?: number
  /** XREADGROUP BLOCK; also how long stop() may wait for an idle read to return. Default 1,000 ms. */
  blockMs?: number
  /** An entry pending this long (its consumer crashed or hangs) is reclaimed with XAUTOCLAIM. Default 30,000 ms. */
  minIdleMs?: number
  /** How often start() runs a reclaim pass. Default 10,000 ms. */
  claimIntervalMs?: number
  /** Deliveries before an entry is dead-lettered instead of handled again. Default 5. */
  maxDeliveries?: number
  logger?: Logger
}

export type ResolvedConsumerOptions = Required<Omit<ConsumerOptions, 'logger'>> & Pick<ConsumerOptions, 'logger'>

export const CONSUMER_DEFAULTS = {
  stream: 'firehose:events',
  group: 'firehose-processors',
  deadLetterMaxLen: 10_000,
  count: 100,
  maxInFlight: 1,
  blockMs: 1_000,
  minIdleMs: 30_000,
  claimIntervalMs: 10_000,
  maxDeliveries: 5,
} as const

/** Fills defaults; throws ConsumerError(CONSUMER_BAD_OPTION) naming the first bad option. */
export function resolveConsumerOptions(options: ConsumerOptions): ResolvedConsumerOptions {
  const stream = name(options, 'stream', CONSUMER_DEFAULTS.stream)
  const count = integer(options, 'count', CONSUMER_DEFAULTS.count, 1, 10_000)
  return {
    redis: redis(options.redis),
    consumer: name(options, 'consumer', `${hostname()}-${process.pid}`),
    stream,
    group: name(options, 'group', CONSUMER_DEFAULTS.group),
    deadLetterStream: name(options, 'deadLetterStream', `${stream}:dead-consumer`),
    deadLetterMaxLen: integer(options, 'deadLetterMaxLen', CONSUMER_DEFAULTS.deadLetterMaxLen, 1, Number.MAX_SAFE_INTEGER),
    count,
    maxInFlight: integer(options, 'maxInFlight', CONSUMER_DEFAULTS.maxInFlight, 1, count),
    // 0 would block forever in Redis, and stop() could never return.
    blockMs: integer(options, 'blockMs', CONSUMER_DEFAULTS.blockMs, 1, 60_000),
    minIdleMs: integer(options, 'minIdleMs', CONSUMER_DEFAULTS.minIdleMs, 1, Number.MAX_SAFE_INTEGER),
    claimIntervalMs: integer(options, 'claimIntervalMs', CONSUMER_DEFAULTS.claimIntervalMs, 1, Number.MAX_SAFE_INTEGER),
    maxDeliveries: integer(options, 'maxDeliveries', CONSUMER_DEFAULTS.maxDeliveries, 1, 1_000_000),
    logger: options.logger,
  }
}

function bad(option: string, value: unknown, expected: string): ConsumerError {
  return new ConsumerError(ConsumerErrorCode.BadOption, `FirehoseConsumer option ${option} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`, { option, value })
}

function redis(value: unknown): string | Redis {
  if (typeof value === 'string' && /^rediss?:\/\//.test(value)) return value
  if (typeof value === 'object' && value !== null && typeof (value as Redis).duplicate === 'function') return value as Redis
  throw bad('redis', typeof value === 'string' ? redactUrl(value) : typeof value, 'a redis:// or rediss:// URL or an ioredis client')
}

function name(options: ConsumerOptions, option: 'consumer' | 'stream' | 'group' | 'deadLetterStream', fallback: string): string {
  const value = options[option]
  if (value === undefined) return fallback
  if (typeof value !== 'string' || value === '') throw bad(option, value, 'a non-empty string')
  return value
}

function integer(options: ConsumerOptions, option: keyof ConsumerOptions, fallback: number, min: number, max: number): number {
  const value = options[option]
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(option, value, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in ${min}..${max}`)
  }
  return value
}

/** A caller's per-call count as a valid COUNT (Redis reads COUNT 0 as "no limit"): 1..max, else the fallback. */
export function pageSize(requested: number, max: number, fallback: number): number {
  return Number.isFinite(requested) ? Math.max(1, Math.min(Math.floor(requested), max)) : fallback
}

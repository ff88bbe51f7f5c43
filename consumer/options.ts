import { hostname } from 'node:os'
import { DEFAULT_GROUP, DEFAULT_STREAM, consumerDeadLetterStreamOf } from '../common/contract.js'
import calculateSlot from 'cluster-key-slot'
import { colocatedKey, keyLayout, keyLayoutProblem, shardStream } from '../common/key-layout.js'
import { redactUrl, type Logger } from '../common/logger.js'
import { ConsumerError, ConsumerErrorCode } from './errors.js'
import type { RedisConnection } from './redis-client.js'

/** Shard `index` (0-based) of an ingestor run with `--shards count`. */
export interface ShardChoice {
  index: number
  count: number
}

export interface ConsumerOptions {
  /**
   * A redis:// URL; with `cluster: true`, one or more seed node URLs of a Redis Cluster. Or an
   * ioredis Redis or Cluster client (duplicated: blocking reads must not hold up the caller's commands).
   */
  redis: RedisConnection
  /** The URL(s) in `redis` are Redis Cluster nodes. Default: true for an ioredis Cluster, else false. */
  cluster?: boolean
  /** Which shard stream to read when the ingestor runs with `--shards count`. Default { index: 0, count: 1 }: `stream` itself. */
  shard?: ShardChoice
  /** This worker's name in the group. Default `<hostname>-<pid>`; a stable name (pod name) keeps XINFO CONSUMERS short. */
  consumer?: string
  /** The ingestor's `--stream`. Default `firehose:events`; shard i of n > 1 reads `<stream>:<i>`. */
  stream?: string
  /** Default `firehose-processors`; created (from the first entry, MKSTREAM) when missing. */
  group?: string
  /**
   * Where entries that failed maxDeliveries times, or break the contract, go. Default
   * `<stream>:dead-consumer`; sharded or on a cluster `<stream>:dead-consumer:{<shard stream>}`,
   * in the shard stream's hash slot. On a cluster a name in another slot is refused (CONSUMER_DEAD_LETTER_SLOT).
   */
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

/** `stream` is the stream read: the shard's own when sharded. */
export type ResolvedConsumerOptions = Required<Omit<ConsumerOptions, 'logger'>> & Pick<ConsumerOptions, 'logger'>

export const CONSUMER_DEFAULTS = {
  stream: DEFAULT_STREAM,
  group: DEFAULT_GROUP,
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
  const { redis, cluster } = connection(options)
  const shard = shardChoice(options.shard)
  const layout = keyLayout(shard.count, cluster)
  const baseStream = name(options, 'stream', CONSUMER_DEFAULTS.stream)
  if (keyLayoutProblem(layout, baseStream) !== null) throw bad('stream', baseStream, 'a name without { or } when sharded or on a cluster (it is the hash tag of its dead-letter stream)')
  const stream = shardStream(layout, baseStream, shard.index)
  const deadLetterStream = name(options, 'deadLetterStream', colocatedKey(layout, consumerDeadLetterStreamOf(baseStream), stream))
  if (cluster) checkSameSlot(stream, deadLetterStream, colocatedKey(layout, deadLetterStream, stream))
  const count = integer(options, 'count', CONSUMER_DEFAULTS.count, 1, 10_000)
  return {
    redis,
    cluster,
    shard,
    consumer: name(options, 'consumer', `${hostname()}-${process.pid}`),
    stream,
    group: name(options, 'group', CONSUMER_DEFAULTS.group),
    deadLetterStream,
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

const isUrl = (value: unknown): value is string => typeof value === 'string' && /^rediss?:\/\//.test(value)
const shown = (value: unknown): unknown => (typeof value === 'string' ? redactUrl(value) : Array.isArray(value) ? value.map(shown) : typeof value)

/** `redis` and `cluster` together: seed URLs only with cluster, a client says itself whether it is one. */
function connection(options: ConsumerOptions): { redis: RedisConnection; cluster: boolean } {
  const { redis: value, cluster } = options
  if (cluster !== undefined && typeof cluster !== 'boolean') throw bad('cluster', cluster, 'a boolean')
  if (typeof value === 'object' && value !== null && 'isCluster' in value && typeof value.duplicate === 'function') {
    if (cluster !== undefined && cluster !== value.isCluster) throw bad('cluster', cluster, `${value.isCluster} (or absent) with an ioredis ${value.isCluster ? 'Cluster' : 'Redis'} client`)
    return { redis: value, cluster: value.isCluster }
  }
  if (isUrl(value)) return { redis: value, cluster: cluster ?? false }
  if (Array.isArray(value) && value.length > 0 && value.every(isUrl)) {
    if (cluster !== true) throw bad('cluster', cluster, 'true with several URLs (they are the seed nodes of a Redis Cluster)')
    return { redis: value, cluster }
  }
  throw bad('redis', shown(value), 'a redis:// or rediss:// URL (with cluster: true, one or more), or an ioredis Redis or Cluster client')
}

function shardChoice(value: unknown): ShardChoice {
  if (value === undefined) return { index: 0, count: 1 }
  const { index, count } = (typeof value === 'object' && value !== null ? value : {}) as Partial<ShardChoice>
  if (Number.isSafeInteger(count) && count! >= 1 && Number.isSafeInteger(index) && index! >= 0 && index! < count!) return { index: index!, count: count! }
  throw bad('shard', value, '{ index, count } with integers count >= 1 and 0 <= index < count')
}

/** The dead-letter script writes the stream and the dead-letter stream: on a cluster both must hash to one slot. */
function checkSameSlot(stream: string, deadLetterStream: string, suggested: string): void {
  const streamSlot = calculateSlot(stream)
  const deadLetterSlot = calculateSlot(deadLetterStream)
  if (streamSlot === deadLetterSlot) return
  throw new ConsumerError(
    ConsumerErrorCode.DeadLetterSlot,
    `FirehoseConsumer option deadLetterStream ${JSON.stringify(deadLetterStream)} is in hash slot ${deadLetterSlot}, the stream ${JSON.stringify(stream)} in ${streamSlot}: on a Redis Cluster the dead-letter script needs both in one slot; use a name with the hash tag {${stream}}, e.g. ${JSON.stringify(suggested)}`,
    { stream, deadLetterStream, streamSlot, deadLetterSlot, suggested },
  )
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

import { exponentialDelayMs } from '../client/backoff.js'
import { colocatedKey, keyLayout, shardStream, type KeyLayout } from '../common/key-layout.js'
import { redactUrl, type Logger } from '../common/logger.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
import { pushEntryFields } from './encoded-entry.js'
import { RedisConfigError } from './errors.js'
import { createRedisClient, redisConfigError, type RedisClient, type RedisTlsOptions } from './redis-connection.js'
import { loadLuaScript, runLuaScript } from './lua-script.js'
import { TRIM_STREAM } from './trim-script.js'
import { WRITE_BATCH } from './write-script.js'
import { ensureConsumerGroup } from '../common/consumer-group.js'

/** A frame quarantined in `<stream>:dead` with its raw bytes. */
export interface DeadLetter {
  seq: number | null
  code: string
  message: string
  bytes: Uint8Array
}

export interface WriteBatch {
  /** The shard whose stream and dead-letter stream this write goes to. Default 0 (the only one without shards). */
  shard?: number
  /**
   * The cursor key this write is compare-and-set against: the shard's key of the relay its frames
   * came from (seq is relay-scoped, see relay-failover.ts; cursorKeys() names them). Default: the
   * shard's key of the sink's cursor key.
   */
  cursorKey?: string
  /** The cursor this ingestor believes Redis holds ('' = no cursor key). */
  expected: string
  /** The cursor after this batch (may equal `expected` when the batch carries no seq). */
  next: string
  entries: readonly StreamEntry[]
  dead: readonly DeadLetter[]
  /** `next` may be below the stored cursor: only for a new relay seq space or a forced start cursor (docs/invariants.md I15). */
  cursorMayGoLower?: boolean
}

/** What the write script did (write-script.ts); only 'applied' wrote anything. */
export type WriteOutcome =
  | { kind: 'applied'; lastId: string }
  /** The stored cursor is not the expected one. */
  | { kind: 'cas-mismatch'; stored: string }
  /** Safe trim: the stream is over its max length with entries `floorGroup` has not acknowledged. */
  | { kind: 'stream-full'; length: number; floorGroup: string | null }
  /** `next` is below the stored cursor and the batch did not allow that. */
  | { kind: 'cursor-backwards'; stored: string }

/** `safe`: never trim entries a consumer group still needs (trim-script.ts); `unsafe`: `XADD MAXLEN ~`. */
export type TrimMode = 'safe' | 'unsafe'

/** After a safe trim: the stream's length and the group whose unacknowledged entries hold it up. */
export interface TrimResult {
  length: number
  floorGroup: string | null
}

export interface SinkKeys {
  stream: string
  cursorKey: string
  deadLetterStream: string
  group: string
  maxLen: number | null
  trim: TrimMode
  deadLetterMaxLen: number
  /** Streams the events are split into by repo DID (common/key-layout.ts). Default 1. */
  shards?: number
  /** `redisUrl` is a seed node of a Redis Cluster. Default false. */
  redisCluster?: boolean
}

/** The keys one shard's writes touch besides its cursor: all in one hash slot. */
export interface ShardKeys {
  stream: string
  deadLetterStream: string
}

export interface RedisConnectionOptions {
  tls?: RedisTlsOptions
  /** While Redis is down, a "still down" line this often (default 30 s). */
  downLogIntervalMs?: number
}

/**
 * The only writer of the stream and the cursor. One ioredis connection without an offline
 * queue and without resending unanswered commands: a failed command surfaces here, and the
 * pipeline decides (by re-reading the cursor) whether it was applied. A configuration error
 * (credentials, ACL, db index, TLS) ends the connection for good: onFatal, whenReady() rejects.
 */
export class RedisSink {
  readonly redis: RedisClient
  readonly layout: KeyLayout
  /** Index = shard. */
  readonly shardKeys: readonly ShardKeys[]
  private readonly logger: Logger
  private readonly db: number
  private connectedOnce = false
  private closing = false
  private fatalError: RedisConfigError | null = null
  /** Called once with the first configuration error (set by the ingestor to stop itself). */
  onFatal: ((err: RedisConfigError) => void) | null = null
  /** Extra fields for the "still down" lines (the ingestor adds its queue depth). */
  describeBacklog: () => Record<string, unknown> = () => ({})
  /** One promise shared by every waiter of an outage: no listener per retry (MaxListenersExceeded). */
  private readyWait: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } | null = null
  private outage: { sinceMs: number; retries: number; timer: NodeJS.Timeout } | null = null

  constructor(
    url: string,
    private readonly keys: SinkKeys,
    logger: Logger,
    backoff: { initialMs: number; maxMs: number },
    connection: RedisConnectionOptions = {},
  ) {
    this.logger = logger.child({ component: 'redis-sink', redis: redactUrl(url) })
    this.layout = keyLayout(keys.shards ?? 1, keys.redisCluster ?? false)
    this.shardKeys = Array.from({ length: this.layout.shards }, (_, shard) => {
      const stream = shardStream(this.layout, keys.stream, shard)
      return { stream, deadLetterStream: colocatedKey(this.layout, keys.deadLetterStream, stream) }
    })
    const downLogIntervalMs = connection.downLogIntervalMs ?? 30_000
    const { client, db } = createRedisClient(url, keys.redisCluster ?? false, {
      ...(connection.tls !== undefined ? { tls: connection.tls } : {}),
      connectionName: 'firehose-ingest',
      // Reconnect forever: a Redis outage pauses ingestion, it never ends it (configuration errors do).
      retryDelayMs: (times) => exponentialDelayMs(backoff, times - 1),
    })
    this.redis = client
    this.db = db
    this.redis.on('ready', () => {
      // ioredis reports a failed SELECT as an error and then goes ready on db 0: never use that.
      if (this.fatalError !== null) return
      if (this.outage !== null || !this.connectedOnce) {
        const downFor = this.outage === null ? {} : { downForMs: Date.now() - this.outage.sinceMs, retries: this.outage.retries }
        this.logger.info(downFor, this.connectedOnce ? 'redis reconnected' : 'redis connected')
      }
      this.connectedOnce = true
      this.endOutage()
      this.readyWait?.resolve()
      this.readyWait = null
    })
    this.redis.on('error', (err: Error) => {
      const fatal = redisConfigError(err, this.db)
      if (fatal !== null) return this.fail(fatal)
      this.startOutage(downLogIntervalMs, { err: { message: err.message } }, 'redis connection error; retrying')
    })
    // A cluster reports each node's connection errors apart; only configuration errors matter
    // here (an unreachable node fails the writes to its slots, which the pipeline retries).
    this.redis.on('node error', (err: Error) => {
      const fatal = redisConfigError(err, this.db)
      if (fatal !== null) this.fail(fatal)
    })
    this.redis.on('close', () => {
      if (!this.closing && this.fatalError === null) this.startOutage(downLogIntervalMs, {}, 'redis connection closed; retrying')
    })
    this.redis.on('reconnecting', () => {
      if (this.outage !== null) this.outage.retries++
    })
  }

  get isReady(): boolean {
    return this.fatalError === null && this.redis.status === 'ready'
  }

  /** Resolves once the connection is ready (ioredis keeps reconnecting on its own); rejects on a configuration error. */
  whenReady(): Promise<void> {
    if (this.fatalError !== null) return Promise.reject(this.fatalError)
    if (this.isReady) return Promise.resolve()
    if (this.readyWait === null) {
      let resolve!: () => void
      let reject!: (err: Error) => void
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
      // Waiters may have given up (startupRead races a timer): a later rejection is not unhandled.
      promise.catch(() => undefined)
      this.readyWait = { promise, resolve, reject }
    }
    return this.readyWait.promise
  }

  /** One warning when an outage starts, then a "still down" line every interval until ready again. */
  private startOutage(intervalMs: number, fields: Record<string, unknown>, message: string): void {
    if (this.outage !== null || this.closing) return
    this.logger.warn(fields, message)
    const sinceMs = Date.now()
    const timer = setInterval(() => {
      const outage = this.outage
      if (outage === null) return
      const downForMs = Date.now() - outage.sinceMs
      this.logger.warn({ downForMs, retries: outage.retries, ...this.describeBacklog() }, `redis still down for ${Math.round(downForMs / 1000)} s`)
    }, intervalMs)
    timer.unref()
    this.outage = { sinceMs, retries: 0, timer }
  }

  private endOutage(): void {
    if (this.outage !== null) clearInterval(this.outage.timer)
    this.outage = null
  }

  private fail(err: RedisConfigError): void {
    if (this.fatalError !== null) return
    this.fatalError = err
    this.endOutage()
    this.logger.error({ code: err.code }, err.message)
    this.redis.disconnect(false)
    this.readyWait?.reject(err)
    this.readyWait = null
    this.onFatal?.(err)
  }

  /** Creates the consumer group (and the stream) of every shard if missing; idempotent. */
  async ensureGroup(): Promise<void> {
    await Promise.all(this.shardKeys.map((keys) => ensureConsumerGroup(this.redis, keys.stream, this.keys.group)))
  }

  /**
   * The cursor keys of relay cursor key `base`, index = shard: `base` itself, or with shards or a
   * cluster one per shard stream, in its hash slot (common/key-layout.ts).
   */
  cursorKeys(base: string): string[] {
    return this.shardKeys.map((keys) => colocatedKey(this.layout, base, keys.stream))
  }

  /** One cursor key's stored value ('' when the key does not exist). */
  async readCursor(key: string): Promise<string> {
    return (await this.redis.get(key)) ?? ''
  }

  /** The stored cursors of relay cursor key `base` as raw strings ('' where the key does not exist), index = shard. */
  readCursors(base: string): Promise<string[]> {
    return Promise.all(this.cursorKeys(base).map((key) => this.readCursor(key)))
  }

  async loadScript(): Promise<void> {
    await loadLuaScript(this.redis, WRITE_BATCH)
    await loadLuaScript(this.redis, TRIM_STREAM)
  }

  /** One atomic compare-and-set write (write-script.ts). Throws on connection errors: outcome unknown. */
  async write(batch: WriteBatch): Promise<WriteOutcome> {
    const shard = batch.shard ?? 0
    const keys = this.shardKeys[shard]!
    const args: (string | Buffer)[] = [
      keys.stream,
      batch.cursorKey ?? this.cursorKeys(this.keys.cursorKey)[shard]!,
      keys.deadLetterStream,
      batch.expected,
      batch.next,
      String(this.keys.maxLen ?? 0),
      this.keys.trim,
      batch.cursorMayGoLower === true ? '1' : '0',
      String(this.keys.deadLetterMaxLen),
      String(batch.entries.length),
    ]
    for (const entry of batch.entries) pushEntryFields(args, entry)
    for (const dead of batch.dead) {
      args.push(dead.seq === null ? '' : String(dead.seq), dead.code, dead.message, Buffer.from(dead.bytes.buffer, dead.bytes.byteOffset, dead.bytes.byteLength))
    }
    const [status, value, floorGroup] = (await runLuaScript(this.redis, WRITE_BATCH, 3, args)) as [number, string | number, string | null]
    switch (status) {
      case 1:
        return { kind: 'applied', lastId: String(value) }
      case 0:
        return { kind: 'cas-mismatch', stored: String(value) }
      case 2:
        return { kind: 'stream-full', length: Number(value), floorGroup: floorGroup ?? null }
      default:
        return { kind: 'cursor-backwards', stored: String(value) }
    }
  }

  /** Safe trim of one shard's stream alone (trim-script.ts); meaningful only with a max length. */
  async trimStream(shard = 0): Promise<TrimResult> {
    const [length, floorGroup] = (await runLuaScript(this.redis, TRIM_STREAM, 1, [this.shardKeys[shard]!.stream, String(this.keys.maxLen ?? 0)])) as [number, string | null]
    return { length, floorGroup: floorGroup ?? null }
  }

  async close(): Promise<void> {
    this.closing = true
    this.endOutage()
    try {
      await this.redis.quit()
    } catch {
      this.redis.disconnect()
    }
  }
}

import { exponentialDelayMs } from '../common/backoff.js'
import { FaultLog } from '../common/fault-log.js'
import { colocatedKey, keyLayout, shardStream, type KeyLayout } from '../common/key-layout.js'
import { redactUrl, type Logger } from '../common/logger.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
import { deadLetterFields, deadLetterMaxEntries, type DeadLetter } from './dead-letter.js'
import { pushEntryFields } from './encoded-entry.js'
import { IngestorError, IngestorErrorCode, RedisConfigError } from './errors.js'
import { refusalError } from './refusal.js'
import { preflight, preflightCalls } from './redis-preflight.js'
import { createRedisClient, redisConfigError, type RedisClient } from './redis-connection.js'
import type { RedisTlsOptions } from '../common/redis-target.js'
import { loadLuaScript, runLuaScript } from './lua-script.js'
import { TRIM_STREAM } from './trim-script.js'
import { WRITE_BATCH } from './write-script.js'
import { ensureConsumerGroup } from '../common/consumer-group.js'
import { backfillInactiveKeyOf, repoStateKeyOf, snapshotProgressKeyOf } from '../common/contract.js'

export type { DeadLetter } from './dead-letter.js'

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
  /** Per-repo state and snapshot progress, each compare-and-set in the same script (I23). Default none. */
  hashUpdates?: readonly HashUpdate[]
}

/** One field of the shard's per-repo state hash or snapshot progress hash, set (or deleted) only if it holds `expected`. */
export interface HashUpdate {
  hash: 'repos' | 'snapshots'
  /** The DID. */
  field: string
  /** What we believe the field holds; '' = no field. */
  expected: string | Buffer
  /** The value to store; '' = delete the field. Never equal to `expected`. */
  next: string | Buffer
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
  /** A hash field of `hashUpdates` holds another value than `expected`; `holdsNext`: it holds this write's value (applied before). */
  | { kind: 'hash-mismatch'; field: string; holdsNext: boolean }

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
  /** Keep each stream at about this many entries; 0: never trim (the write script reads it so). */
  maxLen: number
  trim: TrimMode
  /** Most dead letters kept (MAXLEN ~). */
  deadLetterMaxLen: number
  /** Most bytes of dead letters kept: lowers the count bound so that entries of the largest size fit (dead-letter.ts). Default: no byte bound. */
  deadLetterMaxBytes?: number
  /** Streams the events are split into by repo DID (common/key-layout.ts). Default 1. */
  shards?: number
  /** `redisUrl` is a seed node of a Redis Cluster. Default false. */
  redisCluster?: boolean
  /** The legacy consumer's cursor key, set with the cursor of `cursorKey` in every write (write-script.ts KEYS[4]). Default none. */
  legacyCursorKey?: string | null
}

/** The keys one shard's writes touch besides its cursor: all in one hash slot. */
export interface ShardKeys {
  stream: string
  deadLetterStream: string
  /** Per-repo state (`<stream>:repos`, common/contract.ts). */
  repoStates: string
  /** Open snapshots' progress (`<stream>:snapshots`). */
  snapshotProgress: string
  /** Repos a backfill listed as inactive (`<stream>:backfill-inactive`). */
  backfillInactive: string
}

export interface RedisConnectionOptions {
  tls?: RedisTlsOptions
  /** While Redis is down, a "still down" line this often (default 30 s). */
  downLogIntervalMs?: number
  /** Extra fields for the "still down" lines (the ingestor adds its queue depth). */
  describeBacklog?: () => Record<string, unknown>
  /** Called once with the first configuration error (the ingestor stops itself). */
  onFatal?: (err: RedisConfigError) => void
  /** Called each time the connection is ready again after an outage (the ingestor re-creates the group and checks its cursor). */
  onReconnected?: () => void
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
  /** One promise shared by every waiter of an outage: no listener per retry (MaxListenersExceeded). */
  private readyWait: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } | null = null
  /** The connection outage: one warning, "redis still down for N s" lines, then "redis reconnected". */
  private readonly outage: FaultLog
  /** Reconnect attempts in the current outage. */
  private retries = 0
  /** Why the connection is down (the last connection error, e.g. `getaddrinfo ENOTFOUND host`); null while ready. */
  lastError: string | null = null

  private readonly onFatal: (err: RedisConfigError) => void

  constructor(
    url: string,
    private readonly keys: SinkKeys,
    logger: Logger,
    backoff: { initialMs: number; maxMs: number },
    connection: RedisConnectionOptions = {},
  ) {
    this.onFatal = connection.onFatal ?? (() => undefined)
    this.logger = logger.child({ component: 'redis-sink', redis: redactUrl(url) })
    this.layout = keyLayout(keys.shards ?? 1, keys.redisCluster ?? false)
    this.shardKeys = Array.from({ length: this.layout.shards }, (_, shard) => {
      const stream = shardStream(this.layout, keys.stream, shard)
      return {
        stream,
        deadLetterStream: colocatedKey(this.layout, keys.deadLetterStream, stream),
        repoStates: colocatedKey(this.layout, repoStateKeyOf(keys.stream), stream),
        snapshotProgress: colocatedKey(this.layout, snapshotProgressKeyOf(keys.stream), stream),
        backfillInactive: colocatedKey(this.layout, backfillInactiveKeyOf(keys.stream), stream),
      }
    })
    this.outage = new FaultLog(this.logger, {
      still: 'redis still down',
      durationField: 'downForMs',
      intervalMs: connection.downLogIntervalMs ?? 30_000,
      describe: () => ({ retries: this.retries, ...connection.describeBacklog?.() }),
    })
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
      this.lastError = null
      if (this.outage.active) this.outage.end(this.connectedOnce ? 'redis reconnected' : 'redis connected', { retries: this.retries })
      else if (!this.connectedOnce) this.logger.info('redis connected')
      if (this.connectedOnce) connection.onReconnected?.()
      this.connectedOnce = true
      this.readyWait?.resolve()
      this.readyWait = null
    })
    this.redis.on('error', (err: Error) => {
      const fatal = redisConfigError(err, this.db)
      if (fatal !== null) return this.fail(fatal)
      this.lastError = err.message
      this.startOutage({ err: { message: err.message } }, 'redis connection error; retrying')
    })
    // A cluster reports each node's connection errors apart; only configuration errors matter
    // here (an unreachable node fails the writes to its slots, which the pipeline retries).
    this.redis.on('node error', (err: Error) => {
      const fatal = redisConfigError(err, this.db)
      if (fatal !== null) this.fail(fatal)
    })
    this.redis.on('close', () => {
      if (!this.closing && this.fatalError === null) this.startOutage({}, 'redis connection closed; retrying')
    })
    this.redis.on('reconnecting', () => {
      if (this.outage.active) this.retries++
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

  /** Starts the outage's log, or while it lasts keeps its latest cause for the "still down" lines (e.g. ENOTFOUND). */
  private startOutage(fields: Record<string, unknown>, message: string): void {
    if (this.closing) return
    if (!this.outage.active) this.retries = 0
    if (!this.outage.active || Object.keys(fields).length > 0) this.outage.begin(fields, message)
  }

  private fail(err: RedisConfigError): void {
    if (this.fatalError !== null) return
    this.fatalError = err
    this.outage.end()
    this.logger.error({ code: err.code }, err.message)
    this.redis.disconnect(false)
    this.readyWait?.reject(err)
    this.readyWait = null
    this.onFatal(err)
  }

  /**
   * Before anything is written: refuses (RedisConfigError, exit 4) a Redis user that may not run
   * a command the ingestor will run, or a key it uses that holds another type (redis-preflight.ts).
   * `cursorKeyBases`: every relay's cursor key; `probes`: the health server's reads; `leaseKey`: with --ha.
   */
  async preflight(uses: { cursorKeyBases: readonly string[]; probes: boolean; leaseKey: string | null; repoState: boolean }): Promise<void> {
    const legacy = this.keys.legacyCursorKey ?? null
    const shards = this.shardKeys.map((keys, shard) => {
      const cursorKeys = uses.cursorKeyBases.map((base) => this.cursorKeys(base)[shard]!)
      // The legacy key is a cursor too (one shard only: options.ts).
      const withLegacy = shard === 0 && legacy !== null && !cursorKeys.includes(legacy) ? [...cursorKeys, legacy] : cursorKeys
      return {
        stream: keys.stream,
        deadLetterStream: keys.deadLetterStream,
        cursorKeys: withLegacy,
        ...(uses.repoState ? { repoStates: keys.repoStates, snapshotProgress: keys.snapshotProgress, backfillInactive: keys.backfillInactive } : {}),
      }
    })
    await preflight(this.redis, preflightCalls({ shards, group: this.keys.group, safeTrim: this.keys.maxLen > 0 && this.keys.trim === 'safe', probes: uses.probes, leaseKey: uses.leaseKey }))
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

  /** Fields of one shard's per-repo state or snapshot progress hash (null: no such field). */
  async readHashFields(shard: number, hash: HashUpdate['hash'], fields: readonly string[]): Promise<(Buffer | null)[]> {
    if (fields.length === 0) return []
    const keys = this.shardKeys[shard]!
    return this.redis.hmgetBuffer(hash === 'repos' ? keys.repoStates : keys.snapshotProgress, ...fields)
  }

  /** The fields of one shard's snapshot progress hash that match an HSCAN pattern (spilled held events), with their values. */
  async scanHashFields(shard: number, pattern: string): Promise<Map<string, string>> {
    const found = new Map<string, string>()
    const key = this.shardKeys[shard]!.snapshotProgress
    let cursor = '0'
    do {
      const [next, flat] = await this.redis.hscan(key, cursor, 'MATCH', pattern, 'COUNT', 1000)
      for (let i = 0; i + 1 < flat.length; i += 2) found.set(flat[i]!, flat[i + 1]!)
      cursor = next
    } while (cursor !== '0')
    return found
  }

  async loadScript(): Promise<void> {
    await loadLuaScript(this.redis, WRITE_BATCH)
    await loadLuaScript(this.redis, TRIM_STREAM)
  }

  /** One atomic compare-and-set write (write-script.ts). Throws on connection errors: outcome unknown. */
  async write(batch: WriteBatch): Promise<WriteOutcome> {
    const shard = batch.shard ?? 0
    const keys = this.shardKeys[shard]!
    const cursorKey = batch.cursorKey ?? this.cursorKeys(this.keys.cursorKey)[shard]!
    const legacy = this.legacyCursorKeyFor(cursorKey)
    const scriptKeys = [keys.stream, cursorKey, keys.deadLetterStream, keys.repoStates, keys.snapshotProgress, ...(legacy === null ? [] : [legacy])]
    const updates = batch.hashUpdates ?? []
    const args: (string | Buffer)[] = [
      ...scriptKeys,
      batch.expected,
      batch.next,
      String(this.keys.maxLen),
      this.keys.trim,
      batch.cursorMayGoLower === true ? '1' : '0',
      String(deadLetterMaxEntries(this.keys.deadLetterMaxLen, this.keys.deadLetterMaxBytes ?? Number.MAX_SAFE_INTEGER)),
      String(batch.entries.length),
      String(updates.length),
    ]
    for (const entry of batch.entries) pushEntryFields(args, entry)
    for (const update of updates) args.push(update.hash === 'repos' ? '4' : '5', update.field, update.expected, update.next)
    for (const dead of batch.dead) args.push(...deadLetterFields(dead))
    const reply = (await runLuaScript(this.redis, WRITE_BATCH, scriptKeys.length, args).catch((err: unknown) => {
      // e.g. NOPERM for a declared key, before the script ran: a refusal like the script's own.
      throw redisConfigError(err, this.db) ?? err
    })) as unknown[]
    const refused = refusalError(reply)
    if (refused !== null) throw refused
    const [status, value, floorGroup] = reply as [number, string | number, string | null]
    switch (status) {
      case 1:
        return { kind: 'applied', lastId: String(value) }
      case 0:
        return { kind: 'cas-mismatch', stored: String(value) }
      case 2:
        return { kind: 'stream-full', length: Number(value), floorGroup: floorGroup ?? null }
      case 3:
        return { kind: 'cursor-backwards', stored: String(value) }
      case 7:
        return { kind: 'hash-mismatch', field: String(value), holdsNext: Number(floorGroup) === 1 }
      default:
        throw new IngestorError(IngestorErrorCode.BadScriptArguments, `the write script refused its arguments (${String(value)}); nothing was written`, { reason: value })
    }
  }

  /**
   * The legacy cursor key a write against `cursorKey` also sets: only the primary relay's writes
   * (the legacy consumer read that relay; one shard: options.ts), and not when it is that key itself.
   */
  private legacyCursorKeyFor(cursorKey: string): string | null {
    const legacy = this.keys.legacyCursorKey ?? null
    return legacy !== null && cursorKey === this.keys.cursorKey && legacy !== cursorKey ? legacy : null
  }

  /** Safe trim of one shard's stream alone (trim-script.ts); meaningful only with a max length. */
  async trimStream(shard = 0): Promise<TrimResult> {
    const [length, floorGroup] = (await runLuaScript(this.redis, TRIM_STREAM, 1, [this.shardKeys[shard]!.stream, String(this.keys.maxLen)])) as [number, string | null]
    return { length, floorGroup: floorGroup ?? null }
  }

  async close(): Promise<void> {
    this.closing = true
    this.outage.end()
    try {
      await this.redis.quit()
    } catch {
      this.redis.disconnect()
    }
  }
}

import { Redis } from 'ioredis'
import { redactUrl, type Logger } from '../common/logger.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
import { pushEntryFields } from './encoded-entry.js'
import { WRITE_BATCH_LUA, WRITE_BATCH_SHA } from './write-script.js'

/** A frame quarantined in `<stream>:dead` with its raw bytes. */
export interface DeadLetter {
  seq: number | null
  code: string
  message: string
  bytes: Uint8Array
}

export interface WriteBatch {
  /** The cursor this ingestor believes Redis holds ('' = no cursor key). */
  expected: string
  /** The cursor after this batch (may equal `expected` when the batch carries no seq). */
  next: string
  entries: readonly StreamEntry[]
  dead: readonly DeadLetter[]
}

export type WriteOutcome = { applied: true; lastId: string } | { applied: false; stored: string }

export interface SinkKeys {
  stream: string
  cursorKey: string
  deadLetterStream: string
  group: string
  maxLen: number | null
  deadLetterMaxLen: number
}

/**
 * The only writer of the stream and the cursor. One ioredis connection without an offline
 * queue and without resending unanswered commands: a failed command surfaces here, and the
 * pipeline decides (by re-reading the cursor) whether it was applied.
 */
export class RedisSink {
  readonly redis: Redis
  private readonly logger: Logger
  private connectedOnce = false
  private down = false
  private closing = false

  constructor(
    url: string,
    private readonly keys: SinkKeys,
    logger: Logger,
    backoff: { initialMs: number; maxMs: number },
  ) {
    this.logger = logger.child({ component: 'redis-sink' })
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      connectionName: 'firehose-ingest',
      // Reconnect forever: a Redis outage pauses ingestion, it never ends it.
      retryStrategy: (times) => Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(times - 1, 16)),
    })
    this.redis.on('ready', () => {
      if (this.down || !this.connectedOnce) this.logger.info({ redis: redactUrl(url) }, this.connectedOnce ? 'redis reconnected' : 'redis connected')
      this.connectedOnce = true
      this.down = false
    })
    this.redis.on('error', (err: Error) => {
      // ioredis reports every failed reconnect; one line per outage is enough.
      if (!this.down) this.logger.warn({ err: { message: err.message }, redis: redactUrl(url) }, 'redis connection error; retrying')
      this.down = true
    })
    this.redis.on('close', () => {
      if (this.connectedOnce && !this.down && !this.closing) this.logger.warn({ redis: redactUrl(url) }, 'redis connection closed; retrying')
      this.down = true
    })
  }

  get isReady(): boolean {
    return this.redis.status === 'ready'
  }

  /** Resolves once the connection is ready (ioredis keeps reconnecting on its own). */
  whenReady(): Promise<void> {
    if (this.isReady) return Promise.resolve()
    return new Promise((resolve) => this.redis.once('ready', () => resolve()))
  }

  /** Creates the consumer group (and the stream) if missing; idempotent. */
  async ensureGroup(): Promise<void> {
    try {
      // '0': entries already in the stream when the group is first created are delivered too.
      await this.redis.xgroup('CREATE', this.keys.stream, this.keys.group, '0', 'MKSTREAM')
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err
    }
  }

  /** The stored cursor as its raw string ('' when the key does not exist). */
  async readCursor(): Promise<string> {
    return (await this.redis.get(this.keys.cursorKey)) ?? ''
  }

  async loadScript(): Promise<void> {
    await this.redis.script('LOAD', WRITE_BATCH_LUA)
  }

  /** One atomic compare-and-set write (write-script.ts). Throws on connection errors: outcome unknown. */
  async write(batch: WriteBatch): Promise<WriteOutcome> {
    const args: (string | Buffer)[] = [
      this.keys.stream,
      this.keys.cursorKey,
      this.keys.deadLetterStream,
      batch.expected,
      batch.next,
      String(this.keys.maxLen ?? 0),
      String(this.keys.deadLetterMaxLen),
      String(batch.entries.length),
    ]
    for (const entry of batch.entries) pushEntryFields(args, entry)
    for (const dead of batch.dead) {
      args.push(dead.seq === null ? '' : String(dead.seq), dead.code, dead.message, Buffer.from(dead.bytes.buffer, dead.bytes.byteOffset, dead.bytes.byteLength))
    }
    let reply: unknown
    try {
      reply = await this.redis.evalsha(WRITE_BATCH_SHA, 3, ...args)
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
      // A restarted (or flushed) Redis forgot the script; it did not run, so retrying is safe.
      await this.loadScript()
      reply = await this.redis.evalsha(WRITE_BATCH_SHA, 3, ...args)
    }
    const [applied, value] = reply as [number, string]
    return applied === 1 ? { applied: true, lastId: value } : { applied: false, stored: value }
  }

  async close(): Promise<void> {
    this.closing = true
    try {
      await this.redis.quit()
    } catch {
      this.redis.disconnect()
    }
  }
}

import { FaultLog } from '../common/fault-log.js'
import type { Logger } from '../common/logger.js'
import { retryUntilSuccess } from '../common/retry.js'
import type { CrashPoints } from './crash-points.js'
import { IngestorError, IngestorErrorCode } from './errors.js'
import { redisConfigError } from './redis-connection.js'
import type { WriteBatch, WriteOutcome } from './redis-sink.js'
import type { IngestorCounters } from './status.js'
import type { StreamFullWait } from './trim-wait.js'
import type { ShardWrite } from './write-plan.js'

/** What the cursor store needs of Redis (redis-sink.ts RedisSink). */
export interface CursorSink {
  whenReady(): Promise<void>
  /** One atomic compare-and-set write (write-script.ts); throws when the outcome is unknown. */
  write(batch: WriteBatch): Promise<WriteOutcome>
  /** A cursor key's value ('' = no key). */
  readCursor(key: string): Promise<string>
  /** The cursor keys of a relay's cursor key, index = shard. */
  cursorKeys(base: string): string[]
}

export interface CursorStoreParts {
  sink: CursorSink
  counters: IngestorCounters
  crash: CrashPoints
  logger: Logger
  /** Retry backoff of a failed write or read. */
  backoff: { initialMs: number; maxMs: number }
  /** A write unanswered this long is a fault (logged; --ready-write-timeout). */
  writeTimeoutMs: number
  /** While writes fail, a "still failing" line this often. */
  faultLogIntervalMs: number
  /** Safe trimming: a write refused because the stream is full waits here (null: no --max-len, or --trim unsafe). */
  streamFullWait: StreamFullWait | null
  /** True once the ingestor is stopping: a write waiting on a full stream gives up. */
  stopping: () => boolean
  /** Fields of the "still failing" lines (the queue's depth). */
  describeBacklog: () => Record<string, unknown>
  /** The duration of every write Redis answered (the metrics histogram). */
  onWriteAnswered?: (durationMs: number) => void
}

/** How a write (one script per shard) ended. */
export type CommitOutcome =
  | { kind: 'applied' }
  /** A shard holds another cursor than we believed (now believed): the pipeline must resync from them. */
  | { kind: 'resync'; reason: string }
  /** Stopping while a stream was full: not applied, nothing more will be written. */
  | { kind: 'abandoned'; write: ShardWrite }

type ShardOutcome = { kind: 'applied' } | { kind: 'other-cursor'; stored: string; reason: string } | { kind: 'abandoned' }

/**
 * The cursors this ingestor believes Redis holds, one per shard of the relay it reads, and the
 * only code that writes them: every write is compare-and-set against them (I4), retried until
 * Redis gives a definite answer, and an unknown outcome is settled by reading the cursor (I5).
 * It knows nothing of relays or frames: the pipeline plans writes (write-plan.ts) and acts on
 * the outcome.
 */
export class CursorStore {
  /** Each shard's cursor key of the current relay (index = shard). */
  private keys: string[]
  /** What we believe each key holds ('' = no key): the CAS bases of the next write. */
  private believed: string[]
  /** Writes that fail or go unanswered: one warning, "still failing" lines, one line when they succeed again. */
  private readonly writeFaults: FaultLog

  constructor(
    private readonly parts: CursorStoreParts,
    cursorKey: string,
  ) {
    this.keys = parts.sink.cursorKeys(cursorKey)
    this.believed = this.keys.map(() => '')
    this.writeFaults = new FaultLog(parts.logger, { still: 'redis writes still failing', durationField: 'failingForMs', intervalMs: parts.faultLogIntervalMs, describe: parts.describeBacklog })
  }

  /** Each shard's cursor key (index = shard). */
  get cursorKeys(): readonly string[] {
    return this.keys
  }

  /** What we believe each shard's key holds, raw ('' = no key). */
  get stored(): readonly string[] {
    return this.believed
  }

  /** How long writes have failed or one has gone unanswered past the write timeout; null while Redis answers them. */
  get writesFailingForMs(): number | null {
    return this.writeFaults.durationMs
  }

  /** After reading Redis (start, a relay switch): these are the CAS bases. `cursorKey` names the relay's keys. */
  load(storedRaw: readonly string[], cursorKey?: string): void {
    if (cursorKey !== undefined) this.keys = this.parts.sink.cursorKeys(cursorKey)
    this.believed = [...storedRaw]
  }

  /** Stops logging a write fault (the run is being abandoned). */
  endFaults(): void {
    this.writeFaults.end()
  }

  /** The values of a relay's cursor keys as Redis holds them now (default: the current relay's), retrying through an outage until `stopped()`. */
  async read(stopped: () => boolean, cursorKey?: string): Promise<string[]> {
    const keys = cursorKey === undefined ? this.keys : this.parts.sink.cursorKeys(cursorKey)
    return retryUntilSuccess(
      async () => {
        await this.parts.sink.whenReady()
        return Promise.all(keys.map((key) => this.parts.sink.readCursor(key)))
      },
      { backoff: this.parts.backoff, isFatal: (err) => redisConfigError(err) !== null, stopped },
    )
  }

  /**
   * Writes one shard's script per write, all at once (each is atomic on its own), then settles
   * them together. A shard found holding another cursor keeps its value as believed and the
   * outcome is a resync; the shards that were applied keep theirs (I20).
   */
  async commit(writes: readonly ShardWrite[]): Promise<CommitOutcome> {
    const settled = await Promise.allSettled(writes.map((write) => this.commitShard(write)))
    const failed = settled.find((outcome) => outcome.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    let resync: string | null = null
    let abandoned: ShardWrite | null = null
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status !== 'fulfilled') continue
      const write = writes[i]!
      switch (outcome.value.kind) {
        case 'applied':
          this.believed[write.shard] = write.next
          this.parts.counters.eventsWritten += write.entries.length
          break
        case 'other-cursor':
          this.believed[write.shard] = outcome.value.stored
          resync ??= outcome.value.reason
          break
        case 'abandoned':
          abandoned = write
      }
    }
    if (resync !== null) return { kind: 'resync', reason: resync }
    if (abandoned !== null) return { kind: 'abandoned', write: abandoned }
    return { kind: 'applied' }
  }

  /**
   * Before a run's first entry, each shard without a cursor gets the run's start position, so a
   * crash between the shards' scripts cannot leave a shard that hides where the run started
   * (I20). Nothing to do with one shard, or when every shard has a cursor.
   */
  async anchor(start: number): Promise<CommitOutcome | null> {
    if (this.believed.length === 1) return null
    const writes: ShardWrite[] = []
    this.believed.forEach((expected, shard) => {
      if (expected === '') writes.push({ shard, cursorKey: this.keys[shard]!, expected, next: String(start), entries: [], dead: [] })
    })
    return writes.length === 0 ? null : this.commit(writes)
  }

  /**
   * One shard's script, retried until Redis gives a definite answer. A failed command may or may
   * not have run, so after an error the stored cursor decides: still ours -> not applied, retry;
   * equal to this write's -> applied; anything else -> another cursor (I5).
   */
  private commitShard(write: ShardWrite): Promise<ShardOutcome> {
    const { sink, crash, counters } = this.parts
    return retryUntilSuccess<ShardOutcome>(
      async (failures) => {
        await sink.whenReady()
        if (failures > 0) {
          const stored = await sink.readCursor(write.cursorKey)
          if (stored !== write.expected) return this.settle(write, stored, 'cursor changed while Redis was unreachable')
        }
        for (;;) {
          crash.hit('before-write')
          const startedMs = performance.now()
          const reply = sink.write(write)
          crash.hit('mid-batch')
          const outcome = await this.answered(reply, write)
          this.writeFaults.end('redis writes succeed again')
          this.parts.onWriteAnswered?.(performance.now() - startedMs)
          crash.hit('after-write-before-ack')
          switch (outcome.kind) {
            case 'applied':
              return { kind: 'applied' }
            case 'stream-full':
              if (await this.parts.streamFullWait!.wait(write.shard, outcome, this.parts.stopping)) continue
              return { kind: 'abandoned' }
            case 'cursor-backwards':
              throw new IngestorError(IngestorErrorCode.CursorBackwards, `refused to move cursor ${write.cursorKey} back from ${outcome.stored} to ${write.next}; nothing was written`, {
                stored: outcome.stored,
                next: write.next,
              })
            case 'cas-mismatch':
              counters.casMismatches++
              return this.settle(write, outcome.stored, 'stored cursor differs from ours (Redis lost writes, or another ingestor writes these keys)')
            case 'hash-mismatch':
              // Scripts are atomic: a field holding this write's own value means the whole write ran before (an unanswered attempt).
              if (outcome.holdsNext) return this.settle(write, write.next, '')
              counters.casMismatches++
              return { kind: 'other-cursor', stored: write.expected, reason: `the stored per-repo state of ${outcome.field} differs from ours (Redis lost writes, or another ingestor writes these keys)` }
          }
        }
      },
      {
        backoff: this.parts.backoff,
        // Our own refusal (IngestorError) and a refused configuration (credentials, ACL, key types) never heal.
        isFatal: (err) => err instanceof IngestorError || redisConfigError(err) !== null,
        onFailure: (err) => {
          counters.redisErrors++
          this.writeFaults.begin({ err: { message: (err as Error).message }, key: write.cursorKey, expected: write.expected, next: write.next }, 'redis write failed; relay paused until it succeeds')
        },
      },
    ).catch((err: unknown) => {
      throw redisConfigError(err) ?? err
    })
  }

  /**
   * The write's reply. A Redis that hangs (SIGSTOP, a long blocking command, a half-open
   * connection) answers nothing and closes nothing: after the write timeout without an answer
   * the fault is logged (and "still" lines follow) while the write keeps waiting; whether it ran
   * is decided by the cursor as for any failed write (I5).
   */
  private async answered<T>(reply: Promise<T>, write: ShardWrite): Promise<T> {
    const timeoutMs = this.parts.writeTimeoutMs
    const overdue = setTimeout(() => {
      this.writeFaults.begin({ key: write.cursorKey, timeoutMs, ...this.parts.describeBacklog() }, `redis has not answered a write for ${timeoutMs / 1000} s; relay paused until it does`)
    }, timeoutMs)
    overdue.unref()
    try {
      return await reply
    } finally {
      clearTimeout(overdue)
    }
  }

  /** The stored cursor is not what this write expected: either the write already happened, or another cursor is there. */
  private settle(write: ShardWrite, stored: string, reason: string): ShardOutcome {
    if (stored === write.next) {
      this.parts.counters.casAlreadyApplied++
      return { kind: 'applied' }
    }
    return { kind: 'other-cursor', stored, reason }
  }
}

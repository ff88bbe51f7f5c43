import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../common/logger.js'
import type { RedisSink, TrimResult } from './redis-sink.js'
import type { IngestorCounters } from './status.js'

/** How often a full stream is trimmed again while the write waits (one cheap script call). */
const POLL_MS = 250
/** While the stream stays full, a "still full" warning this often. */
const STILL_FULL_LOG_MS = 30_000

/**
 * Backpressure from the stream's consumers. With safe trimming, a write refused because the
 * stream is at --max-len with entries some group has not acknowledged waits here, trimming
 * again every POLL_MS, until there is room. Nothing is dropped: the write in hand waits, the
 * decoded batches and the frame queue fill, and the queue pauses the relay socket.
 */
export class StreamFullWait {
  /** Shard writes waiting (each shard's stream is full on its own). */
  private waiting = 0

  constructor(
    private readonly sink: RedisSink,
    private readonly maxLen: number,
    private readonly counters: IngestorCounters,
    private readonly logger: Logger,
  ) {}

  get isFull(): boolean {
    return this.waiting > 0
  }

  /**
   * Waits until the stream has room (true), or until `giveUp()` says the ingestor is stopping
   * (false: the write was not applied; its frames are fetched again from the stored cursor).
   * Redis errors propagate to the caller's retry loop.
   */
  async wait(shard: number, refused: TrimResult, giveUp: () => boolean): Promise<boolean> {
    this.waiting++
    this.counters.trimBlocked++
    const sinceMs = Date.now()
    let loggedMs = sinceMs
    this.logger.warn(
      { shard, length: refused.length, maxLen: this.maxLen, group: refused.floorGroup },
      `stream full: ${refused.length} entries (--max-len ${this.maxLen}) and group ${refused.floorGroup ?? '?'} has not acknowledged the oldest; ` +
        'ingestion paused (relay backpressure) until it does; nothing is dropped (--trim unsafe would delete unread entries)',
    )
    try {
      let state = refused
      while (state.length > this.maxLen) {
        if (giveUp()) return false
        await sleep(POLL_MS)
        state = await this.sink.trimStream(shard)
        if (Date.now() - loggedMs >= STILL_FULL_LOG_MS) {
          loggedMs = Date.now()
          this.logger.warn({ shard, length: state.length, maxLen: this.maxLen, group: state.floorGroup, pausedMs: loggedMs - sinceMs }, 'stream still full: ingestion paused')
        }
      }
      this.logger.info({ shard, length: state.length, maxLen: this.maxLen, pausedMs: Date.now() - sinceMs }, 'stream has room again: ingestion resumed')
      return true
    } finally {
      this.waiting--
    }
  }
}

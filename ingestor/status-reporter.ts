import type { Logger } from '../common/logger.js'
import type { IngestorStatus } from './status.js'

/** Logs one status line per period and keeps the events/s rate of the last period. */
export class StatusReporter {
  private timer: NodeJS.Timeout | null = null
  private lastWritten = 0
  private lastAtMs = Date.now()
  private rate = 0

  constructor(
    private readonly status: () => IngestorStatus,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  get eventsPerSec(): number {
    return this.rate
  }

  start(): void {
    this.lastAtMs = Date.now()
    this.lastWritten = this.status().counters.eventsWritten
    if (this.intervalMs > 0) {
      this.timer = setInterval(() => this.report(), this.intervalMs)
      this.timer.unref()
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  private report(): void {
    const status = this.status()
    const now = Date.now()
    const written = status.counters.eventsWritten
    this.rate = Math.round(((written - this.lastWritten) * 1000) / Math.max(1, now - this.lastAtMs))
    this.lastWritten = written
    this.lastAtMs = now
    const c = status.counters
    this.logger.info(
      {
        // HA: whether this one writes (running) or waits (standby), and who holds the lease.
        ...(status.lease === null ? {} : { state: status.state, leader: status.lease.holder }),
        eventsPerSec: this.rate,
        cursor: status.storedCursor,
        ...(status.shardCursors === null ? {} : { shardCursors: status.shardCursors }),
        // Receive-time lag: right for live relays and replayed fixtures alike (their event times are old).
        lagMs: status.receiveLagMs,
        eventLagMs: status.eventLagMs,
        queueFrames: status.queue.frames,
        queueBytes: status.queue.bytes,
        reconnects: status.relay.reconnects,
        paused: status.relay.paused,
        redisReady: status.redis.ready,
        written,
        deadLettered: c.deadLettered,
        skipped: c.skippedKnown + c.skippedBackwards + c.skippedRepeat,
        resyncs: c.resyncs,
        // --repo-state: what waits for a resync, and what the rules withheld so far.
        ...(status.repoSync === null
          ? {}
          : {
              repos: {
                ...status.repoSync,
                desyncs: c.repoDesyncSince + c.repoDesyncPrevData + c.repoSyncResyncs,
                resynced: c.resyncsSucceeded,
                resyncsFailed: c.resyncsFailed,
                stale: c.repoStaleRevs,
                future: c.repoFutureRevs,
                inactive: c.repoInactive,
              },
            }),
        rssMb: Math.round(process.memoryUsage.rss() / 1024 / 1024),
      },
      'status',
    )
  }
}

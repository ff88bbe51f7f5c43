import type { TimerHandle, Timers } from '../../common/timers.js'
import type { IngestorCounters } from '../status.js'

/** The caller stopped waiting (the pipeline is stopping): the batch is given up unwritten and fetched again later. */
export class WaitCancelled extends Error {}

/**
 * --plc-rps: a token bucket in front of the PLC directory. Tokens accrue at `perSecond` up to
 * `burst`; a request takes one, or waits its turn (first come, first served) on the injected
 * clock, so ingestion slows down (the batch waits for its keys) rather than going over the rate.
 * In any window of W seconds at most `burst + perSecond * W` requests start.
 *
 * Waiters are bounded by the resolver: a request takes its PLC slot (at most maxInFlight) before
 * its token. A waiter whose `cancelled()` has become true is rejected WaitCancelled without a
 * token when its turn comes (or at once, for a take() that finds it so).
 */
export class PlcRateLimit {
  private tokens: number
  private refilledAt: number
  private readonly waiters: { cancelled: () => boolean; since: number; resolve: () => void; reject: (err: Error) => void }[] = []
  private timer: TimerHandle | null = null

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly timers: Timers,
    private readonly counters: Pick<IngestorCounters, 'plcRateLimitWaits' | 'plcRateLimitWaitMs'>,
  ) {
    if (!(perSecond > 0) || !Number.isSafeInteger(burst) || burst < 1) throw new RangeError(`a rate limit needs perSecond > 0 and an integer burst >= 1 (got ${perSecond}, ${burst})`)
    this.tokens = burst
    this.refilledAt = timers.now()
  }

  /** Resolves when the request may start; rejects WaitCancelled once `cancelled()` says so. */
  take(cancelled: () => boolean = () => false): Promise<void> {
    if (cancelled()) return Promise.reject(new WaitCancelled())
    this.refill()
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens--
      return Promise.resolve()
    }
    this.counters.plcRateLimitWaits++
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ cancelled, since: this.timers.now(), resolve, reject })
      this.schedule()
    })
  }

  /** Requests waiting for a token. */
  get waiting(): number {
    return this.waiters.length
  }

  private refill(): void {
    const now = this.timers.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.perSecond) / 1000)
    this.refilledAt = now
  }

  /** One timer at a time, set for when the next token is due. */
  private schedule(): void {
    if (this.timer !== null || this.waiters.length === 0) return
    const dueMs = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.perSecond))
    this.timer = this.timers.setTimeout(() => {
      this.timer = null
      this.serve()
    }, dueMs)
  }

  private serve(): void {
    this.refill()
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!
      if (head.cancelled()) {
        this.waiters.shift()
        head.reject(new WaitCancelled())
        continue
      }
      if (this.tokens < 1) break
      this.tokens--
      this.waiters.shift()
      this.counters.plcRateLimitWaitMs += this.timers.now() - head.since
      head.resolve()
    }
    this.schedule()
  }
}

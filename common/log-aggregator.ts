import type { Logger } from './logger.js'

/** How often repeated warnings are summarised by default. */
export const DEFAULT_SUMMARY_INTERVAL_MS = 10_000
/** Distinct codes tracked at once; more (never expected: codes are a fixed set) share one bucket. */
const MAX_CODES = 64
const OVERFLOW_CODE = 'other'

/**
 * Bounded logging for warnings an upstream can trigger once per message (malformed frames,
 * text frames, seq regressions): a hostile relay must not turn into gigabytes of logs. The first
 * warning of each code is logged in full; repeats are only counted, and one summary line per
 * interval gives the counts per code. An interval with no repeats ends the episode, so the next
 * warning of any code is logged in full again. Log volume is at most (codes + 1) lines per interval.
 */
export class LogAggregator {
  /** Codes logged in full during the current episode. */
  private readonly seen = new Set<string>()
  /** Repeats counted since the last summary, per code. */
  private suppressed = new Map<string, number>()
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly logger: Logger,
    /** The summary line's message, e.g. 'repeated relay warnings'. */
    private readonly summaryMessage: string,
    private readonly intervalMs = DEFAULT_SUMMARY_INTERVAL_MS,
  ) {}

  warn(code: string, fields: Record<string, unknown>, message: string): void {
    const key = this.seen.has(code) || this.seen.size < MAX_CODES ? code : OVERFLOW_CODE
    if (!this.seen.has(key)) {
      this.seen.add(key)
      this.logger.warn({ ...fields, code }, message)
    } else {
      this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1)
    }
    this.timer ??= setInterval(() => this.flush(), this.intervalMs).unref()
  }

  /** Logs the summary of repeats not reported yet (also called on shutdown so no count is lost). */
  flush(): void {
    if (this.suppressed.size === 0) {
      // A quiet interval: the episode is over.
      this.seen.clear()
      this.stop()
      return
    }
    const counts = Object.fromEntries(this.suppressed)
    const total = [...this.suppressed.values()].reduce((sum, n) => sum + n, 0)
    this.suppressed = new Map()
    this.logger.warn({ suppressed: counts, total, intervalMs: this.intervalMs }, `${this.summaryMessage} (repeats not logged one by one; counts per code)`)
  }

  /** Summarises what is pending and stops the timer. */
  close(): void {
    if (this.suppressed.size > 0) this.flush()
    this.seen.clear()
    this.stop()
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }
}

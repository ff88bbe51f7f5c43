import type { Logger } from './logger.js'
import type { TimerHandle, Timers } from './timers.js'

/** The real clock, with timers that never keep a process alive just to log a fault. */
const UNREF_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle),
}

export interface FaultLogOptions {
  /** The "still" line's message, followed by ` for N s`: e.g. 'redis still down'. */
  still: string
  /** The field carrying the fault's length in ms on the "still" and "ended" lines: e.g. 'downForMs'. */
  durationField: string
  intervalMs: number
  /** Extra fields for the "still" lines (e.g. the queue depth). */
  describe?: () => Record<string, unknown>
  timers?: Timers
}

/**
 * The log of one kind of fault that lasts (Redis unreachable, writes failing, a write not
 * answered): one warning when it starts, a "still" line every interval while it lasts, and one
 * line when it ends with how long it lasted. Silence in the log never hides a fault, and a fault
 * that lasts a day costs one line per interval.
 */
export class FaultLog {
  private fault: { sinceMs: number; fields: Record<string, unknown>; timer: TimerHandle } | null = null
  private readonly timers: Timers

  constructor(
    private readonly logger: Logger,
    private readonly options: FaultLogOptions,
  ) {
    this.timers = options.timers ?? UNREF_TIMERS
  }

  get active(): boolean {
    return this.fault !== null
  }

  /** How long the fault has lasted (null when none). */
  get durationMs(): number | null {
    return this.fault === null ? null : this.timers.now() - this.fault.sinceMs
  }

  /** Starts the fault with one warning; while it lasts, only updates the fields its "still" lines show. */
  begin(fields: Record<string, unknown>, message: string): void {
    if (this.fault !== null) {
      this.fault.fields = fields
      return
    }
    this.logger.warn(fields, message)
    this.fault = { sinceMs: this.timers.now(), fields, timer: this.timers.setTimeout(() => this.still(), this.options.intervalMs) }
  }

  /** Ends the fault, with an info line when `message` is given; nothing when none is active. */
  end(message?: string, fields: Record<string, unknown> = {}): void {
    const fault = this.fault
    if (fault === null) return
    this.timers.clearTimeout(fault.timer)
    this.fault = null
    if (message !== undefined) this.logger.info({ ...fields, [this.options.durationField]: this.timers.now() - fault.sinceMs }, message)
  }

  private still(): void {
    const fault = this.fault
    if (fault === null) return
    const durationMs = this.timers.now() - fault.sinceMs
    this.logger.warn({ ...fault.fields, [this.options.durationField]: durationMs, ...this.options.describe?.() }, `${this.options.still} for ${Math.round(durationMs / 1000)} s`)
    fault.timer = this.timers.setTimeout(() => this.still(), this.options.intervalMs)
  }
}

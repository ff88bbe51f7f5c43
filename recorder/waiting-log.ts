import type { Logger } from '../common/logger.js'
import type { TimerHandle, Timers } from '../common/timers.js'

/** How long nothing may be recorded before a line says so, and how often it repeats. */
export const WAITING_LOG_INTERVAL_MS = 10_000

export interface WaitingLogOptions {
  logger: Logger
  timers: Timers
  /** The recording's frame limit, when it has one: the line then says how many are still awaited. */
  limit: number | undefined
  /** Frames recorded so far. */
  recorded: () => number
  /** Fields added to each line (connection state, cursor). */
  describe: () => Record<string, unknown>
}

/**
 * While nothing is recorded, one line per interval saying so and, with a limit, how many frames
 * the recording still waits for: a relay that sends nothing (a finished replay, a quiet
 * upstream) must not look like a hung recorder. Bounded: at most one line per interval, none
 * while frames arrive; the only per-frame cost is reading the clock.
 */
export class WaitingLog {
  private readonly intervalMs = WAITING_LOG_INTERVAL_MS
  private lastFrameMs = 0
  private timer: TimerHandle | null = null

  constructor(private readonly options: WaitingLogOptions) {}

  start(): void {
    this.lastFrameMs = this.options.timers.now()
    this.schedule(this.intervalMs)
  }

  /** A frame was recorded. */
  noteFrame(): void {
    this.lastFrameMs = this.options.timers.now()
  }

  stop(): void {
    if (this.timer !== null) this.options.timers.clearTimeout(this.timer)
    this.timer = null
  }

  private schedule(ms: number): void {
    this.timer = this.options.timers.setTimeout(() => this.check(), ms)
  }

  private check(): void {
    const idleMs = this.options.timers.now() - this.lastFrameMs
    if (idleMs < this.intervalMs) {
      this.schedule(this.intervalMs - idleMs)
      return
    }
    const { limit, recorded, logger, describe } = this.options
    const frames = recorded()
    const idle = `nothing recorded for ${Math.round(idleMs / 1000)} s`
    const fields = { idleMs, recorded: frames, ...(limit !== undefined && { limit }), ...describe() }
    logger.info(fields, limit === undefined ? idle : `${idle}: still waiting for ${limit - frames} of ${limit} frames`)
    this.schedule(this.intervalMs)
  }
}

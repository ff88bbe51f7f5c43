import { systemTimers, type Timers } from '../common/timers.js'
import { ReplayError, ReplayErrorCode } from './errors.js'
import type { ReplayRate } from './types.js'

/** Highest accepted fixed rate; far beyond what one process can serve, it only catches typos. */
export const MAX_EVENTS_PER_SEC = 10_000_000
/** Accepted `speed` multipliers: a thousandth of recorded time (a day-long recording in 3 years) to a million times faster. */
export const SPEED_RANGE = [0.001, 1_000_000] as const
/** Token bucket depth in seconds of rate: stalls shorter than this cost no accuracy; longer ones catch up at most this much (a burst). */
const BUCKET_SECONDS = 0.5
/** Rate-mode timer period: at 20k/s that is bursts of ~100 frames, 200 wake-ups a second. */
export const RATE_TICK_MS = 5

/**
 * The default pacing timers: the process' own, on its monotonic clock (epoch-based like
 * Date.now, but never stepped when the wall clock is set), so a clock change neither bursts
 * nor stalls the replay.
 */
export const monotonicTimers: Timers = { ...systemTimers, now: () => performance.timeOrigin + performance.now() }

/**
 * Decides when each frame may be published. `rate`: token bucket refilled from elapsed time
 * (accurate over any window as long as no timer fires more than the bucket depth late);
 * `speed`/`original`: frame due at anchor + (recorded time - recorded anchor) / multiplier;
 * `max`: always (the timeline applies client backpressure instead).
 * Pausing or changing the rate re-anchors, so nothing bursts to "catch up" afterwards.
 */
export class Pacer {
  private tokens = 0
  private refilledAtMs = 0
  private anchor: { wallMs: number; recordedUs: number; round: number } | null = null
  private lastDueMs = 0

  constructor(
    private current: ReplayRate,
    private readonly now: () => number = () => monotonicTimers.now(),
  ) {
    this.reanchor()
  }

  get rate(): ReplayRate {
    return this.current
  }

  setRate(rate: ReplayRate): void {
    this.current = rate
    this.reanchor()
  }

  /** Call when the timeline resumes, so a pause is not paid back as a burst. */
  reanchor(): void {
    this.tokens = 0
    this.refilledAtMs = this.now()
    this.anchor = null
  }

  /** Whole frames the token bucket allows now (rate mode only). */
  allowance(): number {
    if (this.current.mode !== 'rate') return Number.POSITIVE_INFINITY
    const now = this.now()
    const perMs = this.current.eventsPerSec / 1000
    this.tokens = Math.min(this.tokens + (now - this.refilledAtMs) * perMs, Math.max(1, this.current.eventsPerSec * BUCKET_SECONDS))
    this.refilledAtMs = now
    return Math.floor(this.tokens)
  }

  /** Spends tokens for frames published (rate mode). */
  spend(frames: number): void {
    if (this.current.mode === 'rate') this.tokens -= frames
  }

  /** Time on the pacer's clock (`now`, ms) at which this frame is due (speed and original modes). */
  dueMs(frame: { timeUs: number; round: number }): number {
    const multiplier = this.current.mode === 'speed' ? this.current.multiplier : this.current.mode === 'original' ? 1 : Number.POSITIVE_INFINITY
    if (!Number.isFinite(multiplier)) return Number.NEGATIVE_INFINITY
    // A new --loop round restarts the recorded clock: anchor on its first frame.
    if (this.anchor === null || this.anchor.round !== frame.round) {
      this.anchor = { wallMs: Math.max(this.now(), this.lastDueMs), recordedUs: frame.timeUs, round: frame.round }
    }
    const due = this.anchor.wallMs + (frame.timeUs - this.anchor.recordedUs) / 1000 / multiplier
    // Recorded clocks can step backwards; frames never go out of order, so neither do due times.
    this.lastDueMs = Math.max(this.lastDueMs, due)
    return this.lastDueMs
  }
}

/** Validates a rate from JSON (POST /_replay/rate) or the API. */
export function parseReplayRate(value: unknown): ReplayRate {
  const bad = (why: string): ReplayError => new ReplayError(ReplayErrorCode.BadOption, `invalid rate: ${why}`, { value })
  if (typeof value !== 'object' || value === null) throw bad('expected an object with a mode')
  const rate = value as Record<string, unknown>
  const keys = Object.keys(rate)
  const only = (...allowed: string[]): void => {
    const extra = keys.filter((key) => !allowed.includes(key))
    if (extra.length > 0) throw bad(`unexpected field(s) ${extra.join(', ')} for mode ${String(rate.mode)}`)
  }
  switch (rate.mode) {
    case 'rate': {
      only('mode', 'eventsPerSec')
      const n = rate.eventsPerSec
      if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > MAX_EVENTS_PER_SEC) throw bad(`eventsPerSec must be a number in (0, ${MAX_EVENTS_PER_SEC}]`)
      return { mode: 'rate', eventsPerSec: n }
    }
    case 'speed': {
      only('mode', 'multiplier')
      const m = rate.multiplier
      if (typeof m !== 'number' || !(m >= SPEED_RANGE[0] && m <= SPEED_RANGE[1])) throw bad(`multiplier must be a number in [${SPEED_RANGE[0]}, ${SPEED_RANGE[1]}]`)
      return { mode: 'speed', multiplier: m }
    }
    case 'original':
      only('mode')
      return { mode: 'original' }
    case 'max':
      only('mode')
      return { mode: 'max' }
    default:
      throw bad(`mode must be rate, speed, original or max, got ${JSON.stringify(rate.mode)}`)
  }
}

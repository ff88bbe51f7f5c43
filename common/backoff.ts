import { SeededRandom } from './random.js'

export interface BackoffOptions {
  /** Ceiling of the first delay (default 1000 ms). */
  initialMs?: number
  /** Largest ceiling the delays grow to (default 30000 ms). */
  maxMs?: number
  /** A connection that stayed up this long resets the growth (default 60000 ms). */
  stableMs?: number
}

export const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000, stableMs: 60_000 } as const

/**
 * initialMs * 2^attempt, capped at maxMs: the delay before retry `attempt` (0-based) of the
 * ingestor's Redis and DID retries, and the jitter ceiling of Backoff.
 */
export function exponentialDelayMs({ initialMs, maxMs }: { initialMs: number; maxMs: number }, attempt: number): number {
  // 2^attempt stops growing once past maxMs; the exponent cap keeps it a finite number.
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 52))
}

/**
 * Exponential backoff with full jitter (AWS "Exponential Backoff And Jitter"): attempt n waits a
 * uniform random time in [0, min(maxMs, initialMs * 2^n)], so many clients dropped by the same
 * relay restart do not reconnect in lockstep. Seeded for reproducible tests.
 */
export class Backoff {
  readonly initialMs: number
  readonly maxMs: number
  readonly stableMs: number
  private attempt = 0
  private readonly random: SeededRandom

  constructor(options: BackoffOptions = {}, random: SeededRandom = new SeededRandom(SeededRandom.freshSeed())) {
    this.initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs
    this.stableMs = options.stableMs ?? DEFAULT_BACKOFF.stableMs
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs) || !(this.stableMs >= 0)) {
      throw new RangeError(`invalid backoff: initialMs ${this.initialMs}, maxMs ${this.maxMs}, stableMs ${this.stableMs}`)
    }
    this.random = random
  }

  /** The ceiling the next delay is drawn under. */
  get ceilingMs(): number {
    return exponentialDelayMs(this, this.attempt)
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.attempt
  }

  /** Draws the next delay and grows the ceiling. */
  next(): number {
    const delay = Math.floor(this.random.next() * (this.ceilingMs + 1))
    this.attempt++
    return delay
  }

  /** Called when a connection has stayed up for `stableMs`, or was closed on purpose. */
  reset(): void {
    this.attempt = 0
  }

  /** Resets when a connection that lasted `connectedMs` counts as stable. */
  noteConnectionLasted(connectedMs: number): void {
    if (connectedMs >= this.stableMs) this.reset()
  }
}

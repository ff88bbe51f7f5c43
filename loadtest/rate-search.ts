import type { LagSummary } from './percentiles.js'

/** What one load step (a rate held for a while) showed, after its warm-up seconds. */
export interface StepObservation {
  targetRate: number
  /** Frames the replay server published per second over the step. */
  offeredPerSec: number
  /** Lag over the whole step. */
  lag: LagSummary
  /** Per-second lag p99 of the step, in order (null: no entry landed that second). */
  lagP99BySecond: (number | null)[]
  /** Age of the oldest published frame not yet in the stream when the step ended (0: none). */
  pendingMs: number
}

export interface StepVerdict {
  sustained: boolean
  /** The replay server could not offer the rate: says nothing about the ingestor. */
  generatorLimited: boolean
  /** Why not sustained (null when sustained). */
  reason: string | null
}

/** The replay must publish at least this share of the target for a step to count. */
const OFFERED_SHARE = 0.9

/**
 * A rate is sustained when the load generator offered it, lag p99 stayed under the bound,
 * nothing older than the bound was still waiting at the end, and lag did not grow: the median
 * per-second p99 of the last third may exceed the first third's by at most a quarter of the bound.
 */
export function judgeStep(step: StepObservation, maxLagMs: number): StepVerdict {
  const fail = (reason: string, generatorLimited = false): StepVerdict => ({ sustained: false, generatorLimited, reason })
  if (step.offeredPerSec < OFFERED_SHARE * step.targetRate) {
    return fail(`the replay server offered only ${Math.round(step.offeredPerSec)}/s of ${step.targetRate}/s (load generator limit)`, true)
  }
  if (step.lag.p99Ms === null) return fail('no entry reached the stream')
  if (step.lag.p99Ms >= maxLagMs) return fail(`lag p99 ${step.lag.p99Ms} ms >= ${maxLagMs} ms`)
  if (step.pendingMs >= maxLagMs) return fail(`frames published ${Math.round(step.pendingMs)} ms earlier were not in the stream yet`)
  const third = Math.floor(step.lagP99BySecond.length / 3)
  if (third >= 1) {
    const first = median(step.lagP99BySecond.slice(0, third))
    const last = median(step.lagP99BySecond.slice(-third))
    if (first !== null && last !== null && last - first > maxLagMs / 4) return fail(`lag grew over the step (p99 ${first} -> ${last} ms)`)
  }
  return { sustained: true, generatorLimited: false, reason: null }
}

function median(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null).sort((a, b) => a - b)
  return present.length === 0 ? null : present[Math.floor(present.length / 2)]!
}

/**
 * `--rate max`: double the rate from `start` while steps are sustained, then bisect between
 * the highest sustained and the lowest failed rate until they are within `precision`
 * (relative) of each other, or the rate would fall below `minRate`.
 */
export class RateSearch {
  best: number | null = null
  lowestFailed: number | null = null
  /** The best rate is a lower bound only: a higher probe failed because the replay server could not offer it. */
  generatorLimited = false
  private current: number | null

  constructor(
    start: number,
    private readonly options: { maxRate: number; minRate: number; precision: number },
  ) {
    this.current = Math.min(start, options.maxRate)
  }

  /** The rate to probe next; null when the search is done. */
  next(): number | null {
    return this.current
  }

  record(rate: number, verdict: StepVerdict): void {
    if (verdict.sustained) this.best = Math.max(this.best ?? 0, rate)
    else {
      this.lowestFailed = Math.min(this.lowestFailed ?? Number.POSITIVE_INFINITY, rate)
      if (verdict.generatorLimited) this.generatorLimited = true
    }
    this.current = this.choose()
  }

  private choose(): number | null {
    const good = this.best ?? 0
    if (this.lowestFailed === null) return good >= this.options.maxRate ? null : Math.min(this.options.maxRate, good * 2)
    const bad = this.lowestFailed
    if (bad - good <= this.options.precision * Math.max(good, this.options.minRate)) return null
    const middle = Math.round((good + bad) / 2)
    return middle < this.options.minRate ? null : middle
  }
}

/**
 * Streaming percentiles in constant memory: a log-bucketed histogram (HDR-like). Bucket 0
 * holds [0, 1) ms; bucket i >= 1 holds [GROWTH^(i-1), GROWTH^i), so any quantile is within
 * 2% of the true value. Values above ~3 h land in the last bucket; max is kept exactly.
 */
const GROWTH = 1.02
const LOG_GROWTH = Math.log(GROWTH)
const BUCKETS = 1 + Math.ceil(Math.log(3 * 3600 * 1000) / LOG_GROWTH)

export class LogHistogram {
  private readonly counts = new Float64Array(BUCKETS)
  count = 0
  max: number | null = null

  record(valueMs: number): void {
    const value = Math.max(0, valueMs) // a negative lag is clock noise: count it as 0
    const index = value < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(value) / LOG_GROWTH))
    this.counts[index]!++
    this.count++
    this.max = this.max === null ? value : Math.max(this.max, value)
  }

  /** The q-quantile (0..1), null when empty. Reports the bucket's geometric middle, capped at max. */
  quantile(q: number): number | null {
    if (this.count === 0 || this.max === null) return null
    const rank = Math.max(1, Math.ceil(q * this.count))
    if (rank >= this.count) return this.max // the top rank is the maximum, known exactly
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(this.max, representative(i))
    }
    return this.max
  }

  /** p50/p95/p99/max rounded to 0.1 ms (nulls when empty), for samples and reports. */
  summary(): LagSummary {
    const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10)
    return { count: this.count, p50Ms: round(this.quantile(0.5)), p95Ms: round(this.quantile(0.95)), p99Ms: round(this.quantile(0.99)), maxMs: round(this.max) }
  }

  reset(): void {
    this.counts.fill(0)
    this.count = 0
    this.max = null
  }
}

export interface LagSummary {
  count: number
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

function representative(index: number): number {
  if (index === 0) return 0.5
  return Math.pow(GROWTH, index - 0.5)
}

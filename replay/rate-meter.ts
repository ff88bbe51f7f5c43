/** Achieved publish rate over the last few seconds, from (time, count) samples (bounded: one per 100 ms). */
export class RateMeter {
  private samples: { atMs: number; count: number }[] = []

  constructor(
    private readonly spanMs = 5_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  record(count: number): void {
    const atMs = this.now()
    const last = this.samples[this.samples.length - 1]
    if (this.samples.length >= 2 && last !== undefined && atMs - last.atMs < 100) {
      last.count = count
      return
    }
    this.samples.push({ atMs, count })
    // Keep one sample older than the span so the rate covers the whole span.
    while (this.samples.length > 2 && this.samples[1]!.atMs < atMs - this.spanMs) this.samples.shift()
  }

  perSecond(count: number): number {
    this.record(count)
    const first = this.samples[0]!
    const last = this.samples[this.samples.length - 1]!
    const elapsed = last.atMs - first.atMs
    return elapsed <= 0 ? 0 : ((last.count - first.count) * 1000) / elapsed
  }
}

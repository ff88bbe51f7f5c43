import type { BackfillProgress } from './run-backfill.js'
import { outstanding } from './run-backfill.js'

/** Rates over the last `windowMs` of progress samples, and the time left at the repo rate. */
export interface ProgressRates {
  reposPerSec: number
  recordsPerSec: number
  /** null while no rate is known or the listing is still growing the total. */
  etaMs: number | null
}

/**
 * Turns progress samples (one per poll) into rates over a sliding window: repos and records done
 * per second and, once the listing is complete, the time left. Bounded: samples older than the
 * window are dropped.
 */
export class ProgressMeter {
  private readonly samples: BackfillProgress[] = []

  constructor(private readonly windowMs = 10_000) {}

  add(progress: BackfillProgress): ProgressRates {
    this.samples.push(progress)
    while (this.samples.length > 2 && progress.atMs - this.samples[0]!.atMs > this.windowMs) this.samples.shift()
    const first = this.samples[0]!
    const seconds = (progress.atMs - first.atMs) / 1000
    if (seconds <= 0) return { reposPerSec: 0, recordsPerSec: 0, etaMs: null }
    const reposPerSec = (progress.done - first.done) / seconds
    const recordsPerSec = (progress.records - first.records) / seconds
    const left = outstanding(progress)
    const etaMs = progress.listingComplete && reposPerSec > 0 ? (left / reposPerSec) * 1000 : left === 0 && progress.listingComplete ? 0 : null
    return { reposPerSec, recordsPerSec, etaMs }
  }
}

/** One line: a bar of repos done out of those listed, failing ones, records/s and the ETA. */
export function progressLine(progress: BackfillProgress, rates: ProgressRates, barWidth = 24): string {
  const share = progress.listed === 0 ? 0 : progress.done / progress.listed
  const filled = Math.round(share * barWidth)
  const total = `${number(progress.listed)}${progress.listingComplete ? '' : '+'}`
  const failing = progress.failing > 0 ? ` (${number(progress.failing)} failing)` : ''
  const eta = rates.etaMs === null ? 'ETA ?' : `ETA ${duration(rates.etaMs)}`
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${number(progress.done)}/${total} repos${failing}  ${number(Math.round(rates.recordsPerSec))} records/s  ${number(Math.round(rates.reposPerSec))} repos/s  ${eta}`
}

export function number(n: number): string {
  return n.toLocaleString('en-US')
}

/** 3h04m, 12m05s, 42s. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

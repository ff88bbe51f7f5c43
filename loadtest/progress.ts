import type { Progress } from './run.js'

const BAR_WIDTH = 24

/** The progress bar, redrawn in place on a terminal. */
export function progressLine(progress: Progress): string {
  const done = Math.min(1, progress.elapsedSec / Math.max(progress.totalSec, 1))
  const filled = Math.round(done * BAR_WIDTH)
  return `\r[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${progressText(progress)}\x1b[K`
}

/** The same numbers as one plain line, for logs (stdout not a terminal). */
export function progressText(progress: Progress): string {
  const s = progress.sample
  const rate = s.targetRate === null ? 'draining' : `target ${s.targetRate}/s`
  return (
    `${Math.round(Math.min(progress.elapsedSec, progress.totalSec))}/${progress.totalSec} s  ${rate}  ` +
    `offered ${s.offeredPerSec}/s  ingested ${s.ingestPerSec ?? '?'}/s  lag p99 ${s.lagP99Ms ?? '-'} ms  RSS ${s.rssMb ?? '?'} MiB`
  )
}

/** Label/value rows as an aligned two-column table. */
export function formatTable(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([label]) => label.length))
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n')
}

import type { Progress } from './run.js'

const BAR_WIDTH = 24

/** One progress line, rewritten in place (only used when stdout is a TTY). */
export function progressLine(progress: Progress): string {
  const done = Math.min(1, progress.elapsedSec / Math.max(progress.totalSec, 1))
  const filled = Math.round(done * BAR_WIDTH)
  const s = progress.sample
  const rate = s.targetRate === null ? 'draining' : `target ${s.targetRate}/s`
  return (
    `\r[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${Math.round(Math.min(progress.elapsedSec, progress.totalSec))}/${progress.totalSec} s  ${rate}  ` +
    `offered ${s.offeredPerSec}/s  ingested ${s.ingestPerSec ?? '?'}/s  lag p99 ${s.lagP99Ms ?? '-'} ms  RSS ${s.rssMb ?? '?'} MiB\x1b[K`
  )
}

/** Label/value rows as an aligned two-column table. */
export function formatTable(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([label]) => label.length))
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n')
}

import type { RecorderHandle, RecorderStatus, RecorderSummary } from './recorder.js'

const MB = 1_000_000

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`
}

function count(n: number): string {
  return n.toLocaleString('en-US')
}

/** Lag as people read it: 0.4 s, 12 min, 3.2 h, 41 d (replayed fixtures can be months old). */
export function duration(ms: number): string {
  const s = ms / 1000
  if (Math.abs(s) < 120) return `${s.toFixed(1)} s`
  if (Math.abs(s) < 7200) return `${Math.round(s / 60)} min`
  if (Math.abs(s) < 172_800) return `${(s / 3600).toFixed(1)} h`
  return `${Math.round(s / 86_400)} d`
}

function extras(status: RecorderStatus): string {
  const parts: string[] = []
  if (status.gaps > 0) parts.push(`${status.gaps} gap${status.gaps === 1 ? '' : 's'}`)
  if (status.reconnects > 0) parts.push(`${status.reconnects} reconnect${status.reconnects === 1 ? '' : 's'}`)
  return parts.length === 0 ? '' : `  (${parts.join(', ')})`
}

/** One progress line: frames, MB received -> on disk, frames/s, current seq, lag. */
export function formatProgress(status: RecorderStatus, framesPerSec: number): string {
  const seq = status.currentSeq === null ? '-' : String(status.currentSeq)
  const lag = status.lagMs === null ? '-' : duration(status.lagMs)
  const link = status.connected ? '' : '  [reconnecting]'
  return `${count(status.frames)} frames  ${mb(status.frameBytes)} -> ${mb(status.fileBytes)}  ${count(Math.round(framesPerSec))} frames/s  seq ${seq}  lag ${lag}${extras(status)}${link}`
}

/** The line printed when a recording ends. */
export function formatSummary(summary: RecorderSummary): string {
  const seconds = summary.elapsedMs / 1000
  const ratio = summary.fileBytes > 0 ? ` (${(summary.frameBytes / summary.fileBytes).toFixed(1)}x)` : ''
  const seqs = summary.firstSeq === null ? 'no seq' : `seq ${summary.firstSeq}..${summary.currentSeq}`
  const files = summary.files.length === 1 ? summary.files[0]! : `${summary.files.length} files ${summary.files[0]} .. ${summary.files.at(-1)}`
  return (
    `recorded ${count(summary.frames)} frames, ${seqs}, in ${seconds.toFixed(1)} s (${count(Math.round(summary.frames / Math.max(seconds, 0.001)))} frames/s), ` +
    `${mb(summary.frameBytes)} -> ${mb(summary.fileBytes)}${ratio}${extras(summary)}, stopped by ${summary.stopReason} -> ${files}`
  )
}

/**
 * Redraws a progress line on a TTY (carriage return, clear to end of line). Does nothing when
 * the stream is not a terminal, so logs and CI output stay clean.
 */
export function startProgress(handle: RecorderHandle, stream: NodeJS.WriteStream = process.stderr, intervalMs = 500): { stop(): void } {
  if (!stream.isTTY) return { stop: () => {} }
  let last = { atMs: Date.now(), frames: 0 }
  const timer = setInterval(() => {
    const status = handle.status()
    const now = Date.now()
    const rate = ((status.frames - last.frames) * 1000) / Math.max(1, now - last.atMs)
    last = { atMs: now, frames: status.frames }
    stream.write(`\r${formatProgress(status, rate)}\x1b[K`)
  }, intervalMs)
  return {
    stop: () => {
      clearInterval(timer)
      stream.write('\r\x1b[K')
    },
  }
}

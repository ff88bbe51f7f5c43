import { describe, expect, it } from 'vitest'
import { duration, formatProgress, formatSummary } from '../../recorder/progress.js'
import type { RecorderStatus } from '../../recorder/index.js'

const status: RecorderStatus = {
  state: 'recording',
  stopReason: null,
  relay: 'wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos',
  connected: true,
  files: ['out.000.gz', 'out.001.gz'],
  frames: 12345,
  frameBytes: 45_600_000,
  fileBytes: 12_300_000,
  firstSeq: 100,
  currentSeq: 12444,
  lagMs: 1500,
  elapsedMs: 2000,
  gaps: 1,
  reconnects: 2,
  queuedFrames: 0,
  continuity: { duplicatesSkipped: 0, seqRegressions: 0, seqJumps: 0, unreadable: 0, outdatedCursor: 0, errorFrames: {} },
}

describe('progress lines', () => {
  it('shows frames, MB, rate, seq, lag and trouble counts', () => {
    expect(formatProgress(status, 5432.4)).toBe('12,345 frames  45.6 MB -> 12.3 MB  5,432 frames/s  seq 12444  lag 1.5 s  (1 gap, 2 reconnects)')
    expect(formatProgress({ ...status, connected: false, gaps: 0, reconnects: 0, lagMs: null, currentSeq: null }, 0)).toBe('12,345 frames  45.6 MB -> 12.3 MB  0 frames/s  seq -  lag -  [reconnecting]')
  })

  it('summarises a finished recording in one line', () => {
    const line = formatSummary({ ...status, state: 'stopped', stopReason: 'limit', manifests: [] })
    expect(line).toBe('recorded 12,345 frames, seq 100..12444, in 2.0 s (6,173 frames/s), 45.6 MB -> 12.3 MB (3.7x)  (1 gap, 2 reconnects), stopped by limit -> 2 files out.000.gz .. out.001.gz')
    expect(line).not.toContain('\n')
  })

  it('prints lag in units people read', () => {
    expect([duration(400), duration(180_000), duration(3 * 3600_000), duration(40 * 86_400_000)]).toEqual(['0.4 s', '3 min', '3.0 h', '40 d'])
  })
})

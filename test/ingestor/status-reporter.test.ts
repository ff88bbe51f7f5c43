import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { StatusReporter } from '../../ingestor/status-reporter.js'
import { emptyCounters, type IngestorStatus } from '../../ingestor/status.js'
import { running } from './status-sample.js'

/** A replayed fixture: its events are a day old by their own clock, yet written 12 ms after arrival. */
function status(eventsWritten: number): IngestorStatus {
  return running({
    eventLagMs: 86_400_000,
    lastAckAtMs: null,
    writtenByType: {},
    deadLettersByCode: {},
    queue: { ...running().queue, frames: 3, bytes: 900 },
    relay: { ...running().relay, bytesReceived: 0 },
    counters: { ...emptyCounters(), eventsWritten },
  })
}

describe('StatusReporter', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('the status line’s lagMs is the receive-time lag (meaningful for replayed fixtures); event-time lag is eventLagMs', () => {
    vi.useFakeTimers()
    const lines: Record<string, unknown>[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) })
    let written = 0
    const reporter = new StatusReporter(() => status(written), logger, 1000)
    reporter.start()
    written = 500
    vi.advanceTimersByTime(1000)
    reporter.stop()
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ msg: 'status', lagMs: 12, eventLagMs: 86_400_000, eventsPerSec: 500, cursor: 41, queueFrames: 3, written: 500 })
    expect(reporter.eventsPerSec).toBe(500)
  })
})

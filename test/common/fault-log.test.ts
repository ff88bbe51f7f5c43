import { describe, expect, it } from 'vitest'
import { FaultLog } from '../../common/fault-log.js'
import { capturingLogger } from '../support/capturing-logger.js'
import { FakeTimers } from '../support/fake-timers.js'

describe('FaultLog: a lasting fault is one warning, a "still" line per interval, one line when it ends (common/fault-log.ts)', () => {
  function setup() {
    const timers = new FakeTimers()
    const { logger, lines } = capturingLogger()
    let queued = 0
    const log = new FaultLog(logger, { still: 'redis writes still failing', durationField: 'failingForMs', intervalMs: 30_000, describe: () => ({ queueFrames: queued }), timers })
    return { timers, lines, log, setQueued: (n: number) => (queued = n) }
  }

  it('logs the start once however often it is reported, then a "still" line every interval with the latest fields', () => {
    const { timers, lines, log, setQueued } = setup()
    log.begin({ err: 'OOM' }, 'redis write failed')
    log.begin({ err: 'OOM again' }, 'redis write failed')
    expect(lines.map((line) => line.msg)).toEqual(['redis write failed'])
    timers.advance(29_999)
    expect(lines).toHaveLength(1)
    setQueued(7)
    timers.advance(1)
    expect(lines.at(-1)).toMatchObject({ msg: 'redis writes still failing for 30 s', err: 'OOM again', failingForMs: 30_000, queueFrames: 7 })
    timers.advance(60_000)
    expect(lines.map((line) => line.msg).slice(1)).toEqual(['redis writes still failing for 30 s', 'redis writes still failing for 60 s', 'redis writes still failing for 90 s'])
    expect(log.durationMs).toBe(90_000)
  })

  it('ends with one line giving how long it lasted; no timer is left and nothing more is logged', () => {
    const { timers, lines, log } = setup()
    log.begin({}, 'redis write failed')
    timers.advance(45_000)
    log.end('redis writes succeed again')
    expect(lines.at(-1)).toMatchObject({ msg: 'redis writes succeed again', failingForMs: 45_000 })
    expect(timers.pendingCount).toBe(0)
    expect(log.active).toBe(false)
    log.end('redis writes succeed again')
    timers.advance(120_000)
    expect(lines).toHaveLength(3)
  })

  it('an end without a message is silent (a fault given up, e.g. on stop)', () => {
    const { lines, log } = setup()
    log.begin({}, 'redis write failed')
    log.end()
    expect(lines).toHaveLength(1)
    expect(log.durationMs).toBeNull()
  })
})

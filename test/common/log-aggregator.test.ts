import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { LogAggregator } from '../../common/log-aggregator.js'

interface Line {
  msg: string
  code?: string
  suppressed?: Record<string, number>
  total?: number
}

function capture(intervalMs: number): { aggregator: LogAggregator; lines: Line[] } {
  const lines: Line[] = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as Line) })
  return { aggregator: new LogAggregator(logger, 'repeats', intervalMs), lines }
}

describe('LogAggregator', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('logs the first of each code in full, then one summary per interval; a quiet interval ends the episode', () => {
    vi.useFakeTimers()
    const { aggregator, lines } = capture(100)
    for (let i = 0; i < 1_000; i++) aggregator.warn('A', { i }, 'a happened')
    aggregator.warn('B', {}, 'b happened')
    expect(lines).toEqual([expect.objectContaining({ msg: 'a happened', code: 'A' }), expect.objectContaining({ msg: 'b happened', code: 'B' })])
    vi.advanceTimersByTime(100)
    expect(lines).toHaveLength(3)
    expect(lines[2]).toMatchObject({ suppressed: { A: 999 }, total: 999 })
    aggregator.warn('A', {}, 'a happened') // same episode: counted, not logged
    expect(lines).toHaveLength(3)
    vi.advanceTimersByTime(100)
    expect(lines).toHaveLength(4)
    expect(lines[3]).toMatchObject({ suppressed: { A: 1 } })
    vi.advanceTimersByTime(100) // a quiet interval
    aggregator.warn('A', {}, 'a happened')
    expect(lines[4]).toMatchObject({ msg: 'a happened', code: 'A' })
    aggregator.close()
  })

  it('close() reports what is pending; distinct codes beyond 64 share one bucket', () => {
    const { aggregator, lines } = capture(60_000)
    for (let code = 0; code < 100; code++) aggregator.warn(`C${code}`, {}, 'w')
    aggregator.warn('C0', {}, 'w')
    expect(lines).toHaveLength(65)
    aggregator.close()
    expect(lines[65]).toMatchObject({ suppressed: { other: 35, C0: 1 }, total: 36 })
  })
})

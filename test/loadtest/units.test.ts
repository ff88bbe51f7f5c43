import { describe, expect, it, vi } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { LoadtestError, LoadtestErrorCode } from '../../loadtest/errors.js'
import { LogHistogram } from '../../loadtest/percentiles.js'
import { parseProfile, parseRate } from '../../loadtest/profile.js'
import { ProcStats } from '../../loadtest/proc-stats.js'
import { PublishClock } from '../../harness/publish-clock.js'
import { judgeStep, RateSearch, type StepObservation } from '../../loadtest/rate-search.js'
import { Sampler } from '../../loadtest/sampler.js'
import { SeqTally } from '../../loadtest/seq-tally.js'
import { niceCeiling } from '../../loadtest/svg-chart.js'
import type { ReplayHandle } from '../../replay/index.js'

function badInput(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(LoadtestError)
    expect((err as LoadtestError).code).toBe(LoadtestErrorCode.BadInput)
    expect((err as Error).message).not.toContain('\n')
    return (err as Error).message
  }
  throw new Error('expected a bad-input error')
}

describe('parseRate / parseProfile', () => {
  it('reads a rate or max', () => {
    expect(parseRate('2000')).toBe(2000)
    expect(parseRate(' max ')).toBe('max')
    for (const bad of ['0', '-5', '1.5', 'fast', '', '2000000']) expect(badInput(() => parseRate(bad))).toMatch(/^--rate: /)
  })

  it('steps from A to B by A unless +STEP is given, B always last', () => {
    expect(parseProfile('step:1000..5000/10s')).toEqual({ spec: 'step:1000..5000/10s', rates: [1000, 2000, 3000, 4000, 5000], stepSeconds: 10 })
    expect(parseProfile('step:1000..2000+400/2.5s').rates).toEqual([1000, 1400, 1800, 2000])
    expect(parseProfile('step:500..500/1s').rates).toEqual([500])
  })

  it('rejects malformed and out-of-range profiles in one line', () => {
    expect(badInput(() => parseProfile('ramp:1..2/1s'))).toContain('expected step:FROM..TO')
    expect(badInput(() => parseProfile('step:1000..20000/10'))).toContain('expected step:FROM..TO')
    expect(badInput(() => parseProfile('step:5000..1000/10s'))).toContain('must not be below FROM')
    expect(badInput(() => parseProfile('step:0..1000/10s'))).toContain('FROM must be from 1')
    expect(badInput(() => parseProfile('step:1000..2000/0s'))).toContain('step length')
    expect(badInput(() => parseProfile('step:1..100000+1/1s'))).toContain('too many')
  })
})

describe('LogHistogram', () => {
  it('quantiles within 2% of the exact ones on seeded random data', () => {
    const random = new SeededRandom(7)
    const histogram = new LogHistogram()
    const values: number[] = []
    for (let i = 0; i < 20_000; i++) {
      const value = Math.exp(random.next() * 9) // 1 ms .. 8 s, log-uniform
      values.push(value)
      histogram.record(value)
    }
    values.sort((a, b) => a - b)
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = values[Math.ceil(q * values.length) - 1]!
      expect(Math.abs(histogram.quantile(q)! - exact) / exact).toBeLessThan(0.02)
    }
    expect(histogram.max).toBe(values[values.length - 1])
    expect(histogram.count).toBe(20_000)
  })

  it('is empty after reset, clamps negatives to 0, caps quantiles at the max', () => {
    const histogram = new LogHistogram()
    expect(histogram.summary()).toEqual({ count: 0, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null })
    histogram.record(-3)
    histogram.record(100)
    expect(histogram.quantile(0.5)).toBe(0.5)
    expect(histogram.quantile(1)).toBe(100)
    histogram.reset()
    expect(histogram.quantile(0.5)).toBeNull()
  })
})

const steady = (overrides: Partial<StepObservation> = {}): StepObservation => ({
  targetRate: 1000,
  offeredPerSec: 1000,
  lag: { count: 5000, p50Ms: 20, p95Ms: 60, p99Ms: 90, maxMs: 120 },
  lagP99BySecond: [80, 90, 85, 95, 90, 88],
  pendingMs: 10,
  ...overrides,
})

describe('judgeStep', () => {
  it('sustained when offered, bounded and flat', () => {
    expect(judgeStep(steady(), 2000)).toEqual({ sustained: true, generatorLimited: false, reason: null })
  })

  it('not sustained: lag bound, backlog, growth, nothing written, generator short', () => {
    expect(judgeStep(steady({ lag: { count: 10, p50Ms: 900, p95Ms: 1900, p99Ms: 2500, maxMs: 2600 } }), 2000).reason).toContain('lag p99 2500 ms >= 2000 ms')
    expect(judgeStep(steady({ pendingMs: 2100 }), 2000).reason).toContain('not in the stream yet')
    expect(judgeStep(steady({ lagP99BySecond: [50, 60, 300, 500, 900, 1200] }), 2000).reason).toContain('lag grew')
    expect(judgeStep(steady({ lag: { count: 0, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null } }), 2000).reason).toBe('no entry reached the stream')
    const short = judgeStep(steady({ offeredPerSec: 700 }), 2000)
    expect(short).toMatchObject({ sustained: false, generatorLimited: true })
  })
})

describe('RateSearch', () => {
  /** Drives the search against an ingestor that sustains up to `capacity`. */
  function search(capacity: number, maxRate = 1_000_000): { best: number | null; probes: number[] } {
    const rateSearch = new RateSearch(1000, { maxRate, minRate: 50, precision: 0.1 })
    const probes: number[] = []
    for (let rate = rateSearch.next(); rate !== null; rate = rateSearch.next()) {
      probes.push(rate)
      expect(probes.length).toBeLessThan(40)
      rateSearch.record(rate, judgeStep(steady({ targetRate: rate, offeredPerSec: rate, lag: { count: 1, p50Ms: 1, p95Ms: 1, p99Ms: rate <= capacity ? 100 : 5000, maxMs: 1 } }), 2000))
    }
    return { best: rateSearch.best, probes }
  }

  it('doubles, then bisects to within 10% of the capacity', () => {
    const { best, probes } = search(13_000)
    expect(probes.slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 16_000])
    expect(best).toBeLessThanOrEqual(13_000)
    expect(best).toBeGreaterThanOrEqual(13_000 * 0.9)
  })

  it('goes below the start rate, and gives up under the minimum', () => {
    expect(search(300).best).toBeGreaterThanOrEqual(270)
    expect(search(10).best).toBeNull()
  })

  it('stops at maxRate when everything is sustained', () => {
    expect(search(Number.POSITIVE_INFINITY, 5000)).toEqual({ best: 5000, probes: [1000, 2000, 4000, 5000] })
  })
})

describe('SeqTally', () => {
  // One pass: seqs 10, 11, 13 (12 undecodable), span 4: round 1 is 14, 15, 17.
  const tally = (): SeqTally => new SeqTally([10, 11, 13], 4)

  it('counts lost, duplicated and unexpected over looped rounds', () => {
    const t = tally()
    for (const seq of [10, 11, 13, 14, 14, 17, 12, 99]) t.record(seq, 17)
    expect(t.result(17)).toEqual({
      expected: 6,
      delivered: 5,
      lost: 1,
      duplicated: 1,
      unexpected: 2,
      samples: { lost: [15], duplicated: [14], unexpected: [12, 99] },
    })
  })

  it('grows its bitmap across many rounds', () => {
    const t = new SeqTally([1, 2, 3], 3)
    for (let seq = 1; seq <= 100_000; seq++) t.record(seq, 100_000)
    expect(t.result(100_000)).toMatchObject({ expected: 100_000, lost: 0, duplicated: 0, unexpected: 0 })
  })

  it('finds the last expected seq at or below a head', () => {
    const t = tally()
    expect([9, 10, 12, 13, 14, 16, 17].map((seq) => t.lastExpectedAtOrBelow(seq))).toEqual([null, 10, 11, 13, 14, 15, 17])
  })
})

it('niceCeiling rounds axis maxima to 1, 2, 5 x 10^k', () => {
  expect([0.3, 1, 7, 12, 2001, 45_000].map(niceCeiling)).toEqual([0.5, 1, 10, 20, 5000, 50_000])
})

describe('PublishClock', () => {
  /** The clock only reads status().headSeq: a replay whose head the test moves. */
  function fakeReplay(): { head: number | null; replay: ReplayHandle } {
    const state = { head: null as number | null, replay: undefined as unknown as ReplayHandle }
    state.replay = { status: () => ({ headSeq: state.head }) } as unknown as ReplayHandle
    return state
  }

  it('dates each seq by the read before the head passed it (errs early, so lag errs high)', () => {
    vi.useFakeTimers({ now: 1_000_000 })
    const fake = fakeReplay()
    const clock = new PublishClock(fake.replay)
    try {
      expect(clock.sentAt(1)).toBeNull()
      vi.advanceTimersByTime(10) // reads at +2 .. +10, head still null
      fake.head = 100
      vi.advanceTimersByTime(2) // this read sees 100; the previous read was at +10
      expect(clock.sentAt(1)).toBe(1_000_010)
      expect(clock.sentAt(100)).toBe(1_000_010)
      vi.advanceTimersByTime(20) // reads up to +32
      fake.head = 150
      vi.advanceTimersByTime(2)
      expect(clock.sentAt(101)).toBe(1_000_032)
      expect(clock.sentAt(100)).toBe(1_000_010)
      fake.head = 160 // not read yet: a lookup reads the head now (the last read was at +34)
      expect(clock.sentAt(155)).toBe(1_000_034)
      expect(clock.sentAt(161)).toBeNull()
      expect(clock.headSeq).toBe(160)
    } finally {
      clock.stop()
      vi.useRealTimers()
    }
  })

  it('forgets the oldest heads past its ring (2^17)', () => {
    const fake = fakeReplay()
    const clock = new PublishClock(fake.replay)
    try {
      for (let head = 1; head <= (1 << 17) + 10; head++) {
        fake.head = head
        clock.poll()
      }
      expect(clock.sentAt(10)).toBeNull()
      expect(clock.sentAt(11)).not.toBeNull()
      expect(clock.sentAt((1 << 17) + 10)).not.toBeNull()
    } finally {
      clock.stop()
    }
  })
})

describe('Sampler', () => {
  it('leaves each step’s warm-up out of its lag and the run’s, even when entries arrive a step later', () => {
    vi.useFakeTimers({ now: 5_000_000 })
    let head: number | null = null
    const replay = { status: () => ({ headSeq: head, framesPublished: 0 }) } as unknown as ReplayHandle
    const clock = new PublishClock(replay)
    const sampler = new Sampler(
      replay,
      clock,
      () => null,
      () => null,
      1,
      new ProcStats(process.pid),
    )
    const publish = (to: number, afterMs: number): void => {
      vi.advanceTimersByTime(afterMs)
      head = to
      vi.advanceTimersByTime(2)
    }
    try {
      sampler.beginStep(1000, 1000)
      publish(100, 10) // warm-up of step 1
      publish(200, 2000) // steady part of step 1
      sampler.beginStep(2000, 1000)
      publish(300, 10) // warm-up of step 2
      publish(400, 2000) // steady part of step 2
      for (const seq of [50, 150, 250, 350]) sampler.recordEntry(seq, Date.now())
      expect(sampler.overall.count).toBe(2) // 150 and 350
      expect(sampler.endStep().lag.count).toBe(1) // 350 only: 150 belongs to step 1
      expect(sampler.lagUnmeasured).toBe(0)
    } finally {
      clock.stop()
      vi.useRealTimers()
    }
  })
})

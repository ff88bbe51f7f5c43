import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { LoadtestError, LoadtestErrorCode } from '../../loadtest/errors.js'
import { LogHistogram } from '../../loadtest/percentiles.js'
import { parseProfile, parseRate } from '../../loadtest/profile.js'
import { judgeStep, RateSearch, type StepObservation } from '../../loadtest/rate-search.js'
import { SeqTally } from '../../loadtest/seq-tally.js'
import { niceCeiling } from '../../loadtest/svg-chart.js'

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

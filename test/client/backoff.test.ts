import { describe, expect, it } from 'vitest'
import { Backoff } from '../../common/backoff.js'
import { parseRetryAfter, MAX_RETRY_AFTER_MS } from '../../client/retry-after.js'
import { SeededRandom } from '../../common/random.js'

const seed = Number(process.env.TEST_SEED ?? SeededRandom.freshSeed())

describe(`Backoff (seed ${seed})`, () => {
  it('doubles the ceiling from initialMs up to maxMs and draws full-jitter delays under it', () => {
    const backoff = new Backoff({ initialMs: 10, maxMs: 80, stableMs: 100 }, new SeededRandom(seed))
    const ceilings: number[] = []
    const delays: number[] = []
    for (let i = 0; i < 200; i++) {
      ceilings.push(backoff.ceilingMs)
      delays.push(backoff.next())
    }
    expect(ceilings.slice(0, 6), `seed ${seed}`).toEqual([10, 20, 40, 80, 80, 80])
    for (const [i, delay] of delays.entries()) {
      expect(delay, `seed ${seed}, attempt ${i}`).toBeGreaterThanOrEqual(0)
      expect(delay, `seed ${seed}, attempt ${i}`).toBeLessThanOrEqual(ceilings[i]!)
    }
    // Full jitter spreads the capped delays over [0, maxMs], not bunched at the cap.
    const capped = delays.slice(3)
    expect(Math.min(...capped), `seed ${seed}`).toBeLessThan(20)
    expect(Math.max(...capped), `seed ${seed}`).toBeGreaterThan(60)
  })

  it('resets the growth after a stable connection only', () => {
    const backoff = new Backoff({ initialMs: 10, maxMs: 1000, stableMs: 100 }, new SeededRandom(seed))
    for (let i = 0; i < 4; i++) backoff.next()
    expect(backoff.ceilingMs).toBe(160)
    backoff.noteConnectionLasted(99)
    expect(backoff.ceilingMs).toBe(160)
    backoff.noteConnectionLasted(100)
    expect(backoff.ceilingMs).toBe(10)
    expect(backoff.attempts).toBe(0)
  })

  it('is reproducible from the seed', () => {
    const a = new Backoff({}, new SeededRandom(seed))
    const b = new Backoff({}, new SeededRandom(seed))
    const drawsA = Array.from({ length: 10 }, () => a.next())
    const drawsB = Array.from({ length: 10 }, () => b.next())
    expect(drawsA).toEqual(drawsB)
  })

  it('rejects nonsense options', () => {
    expect(() => new Backoff({ initialMs: 0 })).toThrow(RangeError)
    expect(() => new Backoff({ initialMs: 100, maxMs: 10 })).toThrow(RangeError)
  })
})

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates, clamps, and rejects junk', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('3', now)).toBe(3000)
    expect(parseRetryAfter(['7'], now)).toBe(7000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000)
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('99999', now)).toBe(MAX_RETRY_AFTER_MS)
    expect(parseRetryAfter('soon', now)).toBeNull()
    expect(parseRetryAfter('-1', now)).toBeNull()
    expect(parseRetryAfter(undefined, now)).toBeNull()
  })
})

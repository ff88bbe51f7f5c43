import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { decodeFrame, encodeFrame } from '../../protocol/frame.js'
import { peekFrame } from '../../protocol/peek.js'
import { Pacer } from '../../replay/pacer.js'
import { readSeq, withSeq } from '../../replay/seq-field.js'
import { RetainedWindow } from '../../replay/window.js'
import { realFrames } from './helpers.js'

describe('RetainedWindow', () => {
  const bytes = (n: number): Uint8Array => new Uint8Array(n)

  test('keeps the last `capacity` frames; cursor lookup is "first seq above N"', () => {
    const window = new RetainedWindow(5, 1_000_000)
    for (const seq of [10, 20, 30, 40, 50, 60, 70]) window.push(bytes(10), seq)
    expect([window.oldestIndex, window.headIndex, window.size]).toEqual([2, 7, 5])
    expect([window.oldestSeq, window.headSeq, window.evictedSeq]).toEqual([30, 70, 20])
    expect(window.firstIndexAfter(0)).toBe(2)
    expect(window.firstIndexAfter(30)).toBe(3)
    expect(window.firstIndexAfter(35)).toBe(3)
    expect(window.firstIndexAfter(70)).toBe(7)
    expect(() => window.bytesAt(1)).toThrow(RangeError)
  })

  test('byte bound evicts too (always keeps the newest frame)', () => {
    const window = new RetainedWindow(100, 250)
    for (let seq = 1; seq <= 5; seq++) window.push(bytes(100), seq)
    expect([window.size, window.bytes, window.oldestSeq]).toEqual([2, 200, 4])
    window.push(bytes(1_000), 6)
    expect([window.size, window.oldestSeq]).toEqual([1, 6])
  })

  test('frames without seq and recorded regressions: lookups use the running maximum', () => {
    const window = new RetainedWindow(10, 1_000_000)
    for (const seq of [1000, undefined, 1000, 5, 2000]) window.push(bytes(1), seq)
    expect(window.firstIndexAfter(0)).toBe(0)
    expect(window.firstIndexAfter(1000)).toBe(4) // the regressed 5 is not "after" 1000
    expect(window.seqAt(1)).toBeUndefined()
    expect(window.headSeq).toBe(2000)
  })
})

describe('seq field', () => {
  test('readSeq agrees with peekFrame on real frames; withSeq changes only the seq', async () => {
    for (const frame of await realFrames()) {
      expect(readSeq(frame)).toBe(peekFrame(frame).seq)
      for (const seq of [0, 23, 24, 255, 256, 65_536, 2 ** 32, 2 ** 40]) {
        const rewritten = withSeq(frame, seq)
        expect(readSeq(rewritten)).toBe(seq)
        const before = decodeFrame(frame)
        const after = decodeFrame(rewritten)
        expect(after.header).toEqual(before.header)
        expect({ ...after.body, seq: null }).toEqual({ ...before.body, seq: null })
      }
    }
  })

  test('frames without a seq (error frames, garbage) pass through', () => {
    const error = encodeFrame({ op: -1 }, { error: 'FutureCursor' })
    expect(withSeq(error, 5)).toBe(error)
    expect(readSeq(error)).toBeUndefined()
    expect(readSeq(new Uint8Array([0xff, 0x00]))).toBeUndefined()
  })

  test('property: any body map with seq round-trips through withSeq', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ maxLength: 8 }).filter((k) => k !== 'seq'),
          fc.oneof(fc.integer(), fc.string(), fc.boolean()),
        ),
        fc.nat(),
        fc.nat(),
        (rest, seq, next) => {
          const frame = encodeFrame({ op: 1, t: '#x' }, { ...rest, seq })
          const rewritten = withSeq(frame, next)
          expect(decodeFrame(rewritten).body).toEqual({ ...rest, seq: next })
        },
      ),
      { seed: 4242, numRuns: 200 },
    )
  })
})

describe('Pacer (simulated clock)', () => {
  test('token bucket: publishes rate x elapsed within one frame, however irregular the ticks', () => {
    const random = new SeededRandom(7)
    for (const eventsPerSec of [1_000, 5_000, 20_000]) {
      let now = 0
      const pacer = new Pacer({ mode: 'rate', eventsPerSec }, () => now)
      let published = 0
      while (now < 10_000) {
        now += random.int(1, 40) // timers fire late and unevenly
        const allowed = pacer.allowance()
        pacer.spend(allowed)
        published += allowed
      }
      expect(Math.abs(published - (eventsPerSec * now) / 1000), `seed 7, ${eventsPerSec}/s`).toBeLessThanOrEqual(1)
    }
  })

  test('a stalled loop catches up at most one bucket (0.5 s), and reanchor() forgets debt', () => {
    let now = 0
    const pacer = new Pacer({ mode: 'rate', eventsPerSec: 1_000 }, () => now)
    now = 5_000
    expect(pacer.allowance()).toBe(500)
    pacer.spend(500)
    now = 6_000
    pacer.reanchor()
    expect(pacer.allowance()).toBe(0)
  })

  test('speed: due times scale recorded gaps; a new loop round re-anchors', () => {
    let now = 100
    const pacer = new Pacer({ mode: 'speed', multiplier: 4 }, () => now)
    expect(pacer.dueMs({ timeUs: 1_000_000, round: 0 })).toBe(100)
    expect(pacer.dueMs({ timeUs: 1_400_000, round: 0 })).toBe(200)
    expect(pacer.dueMs({ timeUs: 1_300_000, round: 0 })).toBe(200) // recorded clock stepped back: never earlier
    now = 500
    expect(pacer.dueMs({ timeUs: 1_000_000, round: 1 })).toBe(500)
  })
})

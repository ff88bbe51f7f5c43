import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { tidFromTime } from '../../generator/tid.js'
import { RepoSyncError } from '../../repo-sync/errors.js'
import { compareRevs, isTid, readTidBytes, tidTimestampMs, tidTimestampUs, writeTidBytes } from '../../repo-sync/tid.js'

const SEED = 18_2026

/** A seeded random TID: 53-bit timestamp, 10-bit clock id (generator/tid.ts writes it independently). */
function randomTid(random: SeededRandom): { tid: string; timeUs: number; clockId: number } {
  const timeUs = random.uint32() * 2 ** 21 + (random.uint32() >>> 11)
  const clockId = random.int(0, 1023)
  return { tid: tidFromTime(timeUs, clockId), timeUs, clockId }
}

describe('a TID carries its microsecond timestamp in its top bits (the future-rev rule reads it)', () => {
  it('decodes what the generator encodes, over 2,000 seeded TIDs', () => {
    const random = new SeededRandom(SEED)
    for (let i = 0; i < 2000; i++) {
      const { tid, timeUs } = randomTid(random)
      expect(tidTimestampUs(tid), `seed ${SEED}, ${tid}`).toBe(timeUs)
    }
  })

  it('reads real revs: a Bluesky PDS rev of April 2025, and the zero-based clock of a non-Bluesky PDS', () => {
    expect(new Date(tidTimestampMs('3lmxjza3nva27')).toISOString()).toMatch(/^2025-04-16T21:30:2/)
    expect(tidTimestampMs('222222d7n7i22')).toBeLessThan(Date.UTC(1970, 0, 2))
  })
})

describe('revs compare as strings because TIDs have one length and an alphabet in ASCII order', () => {
  it('orders 2,000 seeded pairs as their timestamps and clock ids do', () => {
    const random = new SeededRandom(SEED + 1)
    for (let i = 0; i < 2000; i++) {
      const a = randomTid(random)
      // One pair in ten shares its timestamp: the clock id decides.
      const clockId = random.int(0, 1023)
      const b = random.bool(0.1) ? { tid: tidFromTime(a.timeUs, clockId), timeUs: a.timeUs, clockId } : randomTid(random)
      const expected = Math.sign(a.timeUs - b.timeUs || a.clockId - b.clockId)
      expect(Math.sign(compareRevs(a.tid, b.tid)), `seed ${SEED + 1}: ${a.tid} vs ${b.tid}`).toBe(expected)
    }
  })
})

describe('a rev that is not a TID is refused, not ordered (it would poison the stored rev)', () => {
  it.each([
    ['3lmxjza3nva00', "rev_ordering's invalid rev: 0 is not base32-sortable"],
    ['', 'empty'],
    ['3lmxjza3nva2', '12 characters'],
    ['3lmxjza3nva277', '14 characters'],
    ['3LMXJZA3NVA27', 'upper case'],
    ['klmxjza3nva27', 'first character beyond j (the 65th bit set)'],
  ])('%j (%s)', (rev) => {
    expect(isTid(rev)).toBe(false)
    expect(() => compareRevs(rev, '3lmxjza3nva27')).toThrow(RepoSyncError)
    expect(() => tidTimestampUs(rev)).toThrow(expect.objectContaining({ code: 'REPO_SYNC_BAD_REV' }))
  })
})

describe('a TID stores as its 64-bit value in 8 bytes (the state codec), and back', () => {
  it('round-trips 2,000 seeded TIDs and keeps their order bytewise', () => {
    const random = new SeededRandom(SEED + 2)
    let previous: { tid: string; bytes: Buffer } | null = null
    for (let i = 0; i < 2000; i++) {
      const { tid } = randomTid(random)
      const bytes = Buffer.alloc(10)
      writeTidBytes(tid, bytes, 1)
      expect(readTidBytes(bytes, 1), `seed ${SEED + 2}`).toBe(tid)
      if (previous !== null) expect(Math.sign(Buffer.compare(bytes, previous.bytes))).toBe(Math.sign(compareRevs(tid, previous.tid)))
      previous = { tid, bytes }
    }
  })

  it('writes the extremes', () => {
    const bytes = Buffer.alloc(8)
    writeTidBytes('2222222222222', bytes, 0)
    expect(bytes.toString('hex')).toBe('0000000000000000')
    writeTidBytes('jzzzzzzzzzzzz', bytes, 0)
    expect(bytes.toString('hex')).toBe('ffffffffffffffff')
    expect(readTidBytes(bytes, 0)).toBe('jzzzzzzzzzzzz')
  })

  it('refuses fewer than 8 bytes', () => {
    expect(() => readTidBytes(new Uint8Array(9), 2)).toThrow(expect.objectContaining({ code: 'REPO_SYNC_BAD_REV' }))
  })
})

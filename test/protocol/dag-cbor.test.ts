/**
 * The hand-written decoder must accept exactly what @ipld/dag-cbor accepts and return the same
 * values (byte strings compared by content). Seeded; fast-check prints seed and path on failure.
 */
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { decodeDagCborItem } from '../../protocol/dag-cbor.js'
import { FrameDecodeError, FrameErrorCode } from '../../protocol/errors.js'
import { decodeFrame } from '../../protocol/frame.js'
import { allRealFrames, expectFrameError, hex } from './helpers.js'

const SEED = Number(process.env.FIREHOSE_FUZZ_SEED ?? 0x0dec0de)
const RUNS = Number(process.env.FIREHOSE_FUZZ_RUNS ?? 2000)
const LINK = CID.parse('bafyreibs6fzaletha2gggf3wnldgxs4w4aqm3eu2jpwo5ffg2trxra7lu4')

/** Whole-input decode with our decoder; deep enough that only the reference's own limits matter. */
function ours(bytes: Uint8Array): unknown {
  const { value, end } = decodeDagCborItem(bytes, 0, 1000)
  if (end !== bytes.byteLength) throw new FrameDecodeError(FrameErrorCode.InvalidCbor, 'trailing bytes')
  return value
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }
const attempt = (fn: () => unknown): Outcome => {
  try {
    return { ok: true, value: fn() }
  } catch (error) {
    return { ok: false, error }
  }
}

/** Both decoders agree: same value, or both reject (ours with a FrameDecodeError). */
function expectSameAsReference(bytes: Uint8Array): void {
  const reference = attempt(() => dagCbor.decode(bytes))
  const mine = attempt(() => ours(bytes))
  if (!mine.ok && !(mine.error instanceof FrameDecodeError)) throw mine.error
  expect(mine.ok, `accept/reject differs on ${Buffer.from(bytes).toString('hex').slice(0, 200)}: ${mine.ok ? '' : String(mine.error)}`).toBe(reference.ok)
  if (mine.ok && reference.ok) expect(mine.value).toEqual(reference.value)
}

const ipldValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ maxLength: 80 }),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
    fc.boolean(),
    fc.constant(null),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.uint8Array({ maxLength: 70 }),
    fc.constant(LINK),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 5 }),
  ),
})).value

describe('decodeDagCborItem matches @ipld/dag-cbor', () => {
  it('on the header and body of every real frame', () => {
    for (const { name, bytes } of allRealFrames()) {
      const header = decodeDagCborItem(bytes, 0, 64)
      const body = decodeDagCborItem(bytes, header.end, 64)
      expect(body.end, name).toBe(bytes.byteLength)
      expect(header.value, name).toEqual(dagCbor.decode(bytes.subarray(0, header.end)))
      expect(body.value, name).toEqual(dagCbor.decode(bytes.subarray(header.end)))
      expect(decodeFrame(bytes).body, name).toEqual(body.value)
    }
  })

  it(`on encodings of arbitrary IPLD values (seed ${SEED})`, () => {
    fc.assert(
      fc.property(ipldValue, (value) => {
        expectSameAsReference(dagCbor.encode(value))
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it(`on mutated encodings and random bytes: same accept/reject, same values (seed ${SEED})`, () => {
    const mutated = fc.tuple(ipldValue, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 3 }), fc.nat()).map(([value, edits, cut]) => {
      const bytes = Uint8Array.from(dagCbor.encode(value))
      for (const [at, byte] of edits) if (bytes.length > 0) bytes[at % bytes.length] = byte
      return cut % 4 === 0 ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes
    })
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 64 })), (bytes) => {
        expectSameAsReference(bytes)
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    )
  })

  it('map keys read through the key cache: thousands of distinct keys (slots taken over), read again, and keys one byte apart', () => {
    // 512 slots: 5,000 keys make every slot change hands, so a stale or colliding entry would show as a wrong key.
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i.toString(36)}${i % 7 === 0 ? 'é' : ''}`)
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < keys.length; i += 10) expectSameAsReference(dagCbor.encode(Object.fromEntries(keys.slice(i, i + 10).map((key, j) => [key, j]))))
    }
    for (const key of ['repo', 'repp', 'rep', 'reop', 'Repo', 'a'.repeat(24), 'a'.repeat(25)]) expectSameAsReference(dagCbor.encode({ [key]: 1, repo: 2 }))
  })

  it('hand-picked encodings: minimal ints and lengths, floats, simple values, tags, keys', () => {
    const cases = [
      '17',
      '1818',
      '190100',
      '1a00010000',
      '1b0000000100000000',
      '1b001fffffffffffff',
      '1b0020000000000000',
      '1bffffffffffffffff',
      '20',
      '3b001ffffffffffffe',
      '3b001fffffffffffff',
      '3bffffffffffffffff',
      '1805',
      '190005',
      '1a00000005',
      '1b0000000000000005',
      '5801ff',
      '7801' + '61',
      '9801' + '01',
      'b801' + '616101',
      'f4',
      'f5',
      'f6',
      'f7',
      'f0',
      'f800',
      'f820',
      'ff',
      'f93c00',
      'f97c00',
      'f97e00',
      'fa3fc00000',
      'fa7f800000',
      'fb3ff8000000000000',
      'fb7ff8000000000000',
      '5f41ff',
      '7fff',
      '9fff',
      'bfff',
      'c11a00000000',
      'd82a4100',
      'd82a4101',
      'd82a' + '582500' + LINK.bytes.reduce((s, b) => s + b.toString(16).padStart(2, '0'), ''),
      'd82a6161',
      'd82a' + '5825' + '01' + '0'.repeat(72),
      'a10101',
      'a2616101616102',
      'a2616101616201',
      'a1695f5f70726f746f5f5fa0',
      'a0',
      '80',
      '40',
      '60',
      '62c328',
      '63e28228',
      '61ff',
    ]
    for (const text of cases) expectSameAsReference(hex(text))
  })

  it('reports nesting past maxDepth as FRAME_TOO_DEEP and a cut-off item as FRAME_TRUNCATED, with the given fields', () => {
    const deep = hex('81'.repeat(10) + '01')
    expect(decodeDagCborItem(deep, 0, 10).value).toEqual([[[[[[[[[[1]]]]]]]]]])
    const err = expectFrameError(() => decodeDagCborItem(deep, 0, 9, { seq: 4 }), FrameErrorCode.TooDeep)
    expect(err.seq).toBe(4)
    expectFrameError(() => decodeDagCborItem(hex('82 01'), 0, 9), FrameErrorCode.Truncated)
    expectFrameError(() => decodeDagCborItem(hex('9a ffffffff 01'), 0, 9), FrameErrorCode.Truncated)
    expectFrameError(() => decodeDagCborItem(hex('1805'), 0, 9), FrameErrorCode.InvalidCbor)
  })

  it('returns byte strings as views into the input, not copies', () => {
    const bytes = dagCbor.encode({ b: new Uint8Array([1, 2, 3]) })
    const value = decodeDagCborItem(bytes, 0, 4).value as { b: Uint8Array }
    expect(value.b.buffer).toBe(bytes.buffer)
    expect([...value.b]).toEqual([1, 2, 3])
  })
})

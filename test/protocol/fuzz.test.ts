/**
 * Seeded fuzz: whatever bytes arrive, the codec returns an event or throws FrameDecodeError,
 * never a TypeError/RangeError, and whatever it returns can be published. fast-check prints the
 * seed and counterexample path on failure; rerun one with FIREHOSE_FUZZ_SEED=<seed>
 * (FIREHOSE_FUZZ_RUNS=<n> for a longer hunt).
 */
import { CID } from 'multiformats/cid'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FrameDecodeError, FrameErrorCode } from '../../protocol/errors.js'
import { decodeEvent } from '../../protocol/events.js'
import { encodeFrame } from '../../protocol/frame.js'
import { peekFrame } from '../../protocol/peek.js'
import { isSequenced, toStreamEntry } from '../../protocol/stream-entry.js'
import { allRealFrames, commitFrame, concat } from './helpers.js'

const SEED = Number(process.env.FIREHOSE_FUZZ_SEED ?? 0x5eed_f1e7)
const RUNS = Number(process.env.FIREHOSE_FUZZ_RUNS ?? 2000)
const frames = allRealFrames().map((f) => f.bytes)

/** Runs the codec on `bytes`; fails the property on anything but a FrameDecodeError. */
function checkCodec(bytes: Uint8Array): void {
  let decoded: ReturnType<typeof decodeEvent> | undefined
  for (const verifyBlocks of [true, false]) {
    try {
      decoded = decodeEvent(bytes, { verifyBlocks })
      // Whatever decodes must be publishable: JSON-serialisable, no BigInt, no cycles.
      if (isSequenced(decoded)) JSON.parse(toStreamEntry(decoded).data)
    } catch (err) {
      if (!(err instanceof FrameDecodeError)) throw err
      decoded = undefined
    }
  }
  try {
    const peek = peekFrame(bytes)
    // A frame that fully decodes must peek to the same routing facts.
    if (decoded !== undefined) {
      if (decoded.type === 'error') expect(peek.op).toBe(-1)
      else expect(peek.seq).toBe('seq' in decoded && decoded.seq !== null ? decoded.seq : undefined)
    }
  } catch (err) {
    if (!(err instanceof FrameDecodeError)) throw err
    expect(decoded, `peekFrame threw ${err.code} on a frame decodeEvent accepted`).toBeUndefined()
  }
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'splice'; at: number; other: number; from: number; length: number }

const position = fc.nat({ max: 0x7fff_ffff })
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), at: position, byte: fc.constantFrom(0x00, 0x18, 0x1b, 0x5a, 0x7f, 0x9f, 0xbf, 0xd8, 0xf6, 0xff) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('splice' as const), at: position, other: fc.nat(), from: position, length: fc.integer({ min: 1, max: 512 }) }),
  },
)

function mutate(input: Uint8Array, m: Mutation): Uint8Array {
  const at = input.byteLength === 0 ? 0 : m.at % (input.byteLength + 1)
  switch (m.kind) {
    case 'flip':
    case 'set': {
      if (input.byteLength === 0) return input
      const out = Uint8Array.from(input)
      const i = at % input.byteLength
      out[i] = m.kind === 'flip' ? out[i]! ^ (1 << m.bit) : m.byte
      return out
    }
    case 'truncate':
      return input.subarray(0, at)
    case 'insert':
      return concat(input.subarray(0, at), m.bytes, input.subarray(at))
    case 'delete':
      return concat(input.subarray(0, at), input.subarray(at + m.length))
    case 'splice': {
      const other = frames[m.other % frames.length]!
      const from = m.from % other.byteLength
      return concat(input.subarray(0, at), other.subarray(from, from + m.length), input.subarray(at))
    }
  }
}

/** IPLD values as records may hold them, including ones the JSON data model cannot (BigInt). */
const ipldValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }),
    fc.uint8Array({ maxLength: 40 }),
    fc.constant(CID.parse('bafyreibs6fzaletha2gggf3wnldgxs4w4aqm3eu2jpwo5ffg2trxra7lu4')),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value

describe(`fuzz (seed ${SEED}, ${RUNS} runs per property)`, () => {
  it('every real frame passes the codec check unmutated', () => {
    for (const bytes of frames) checkCodec(bytes)
  })

  it('mutated real frames (bit flips, byte sets, truncation, insertion, deletion, splicing) never throw anything but FrameDecodeError', () => {
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (index, mutations) => {
        checkCodec(mutations.reduce(mutate, frames[index % frames.length]!))
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('random bytes, and random bodies behind a valid header, never throw anything but FrameDecodeError', () => {
    const headers = [encodeFrame({ op: 1, t: '#commit' }, {}), encodeFrame({ op: -1 }, {})].map((f) => f.subarray(0, f.byteLength - 1))
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: 2 }), (bytes, headerIndex) => {
        const header = headers[headerIndex]
        checkCodec(header === undefined ? bytes : concat(header, bytes))
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('commits carrying arbitrary IPLD records decode to JSON-safe records or fail with FRAME_BAD_BODY (BigInt)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string({ maxLength: 8 }), ipldValue, { maxKeys: 6 }), async (record) => {
        const bytes = await commitFrame([{ action: 'create', path: 'x.y.z/r', record }], { seq: 9 })
        try {
          const event = decodeEvent(bytes)
          if (event.type !== 'commit') throw new Error('not a commit')
          const json = event.ops[0]!.record
          expect(JSON.parse(JSON.stringify(json))).toEqual(json)
        } catch (err) {
          if (!(err instanceof FrameDecodeError)) throw err
          expect(err.code).toBe(FrameErrorCode.BadBody)
          expect(err.seq).toBe(9)
        }
      }),
      { seed: SEED, numRuns: RUNS / 4 },
    )
  })
})

/**
 * The entry JSON written straight from CBOR bytes (protocol/cbor-json.ts, entry-json.ts) must be
 * byte for byte what JSON.stringify gives (toStreamEntry), or fall back to it: on every frame of
 * the committed fixture and of the real data, every record of the real repo CARs, the interop
 * data-model vectors, and seeded random values and corrupted blocks (fast-check prints the seed;
 * rerun with FIREHOSE_FUZZ_SEED=<seed>).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { CarBufferReader } from '@ipld/car/buffer-reader'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { transcodeDagCborJson } from '../../protocol/cbor-json.js'
import { RecordJsonScratch, writeEntryJson } from '../../protocol/entry-json.js'
import { FrameDecodeError } from '../../protocol/errors.js'
import { decodeEvent, recordJson } from '../../protocol/events.js'
import { DEFAULT_MAX_DEPTH } from '../../protocol/frame.js'
import { JsonBytes } from '../../protocol/json-bytes.js'
import { isSequenced, toStreamEntry } from '../../protocol/stream-entry.js'
import { readFixtureFrames } from '../../fixture-file/index.js'
import { REAL_DATA, allRealFrames } from './helpers.js'

const SEED = Number(process.env.FIREHOSE_FUZZ_SEED ?? 0x20_4a50)
const RUNS = Number(process.env.FIREHOSE_FUZZ_RUNS ?? 3000)
const COMMITTED_FIXTURE = new URL('../../fixtures/generated.fixture.gz', import.meta.url).pathname

/** The old path's outcome for a block: its JSON text, or the error it throws. */
function stringified(block: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH): { text: string } | { error: string } {
  try {
    return { text: JSON.stringify(recordJson(block, 'col/rkey', { seq: 1 }, maxDepth)) }
  } catch (err) {
    if (!(err instanceof FrameDecodeError)) throw err
    return { error: `${err.code}: ${err.message}` }
  }
}

/** Transcodes `block`; when it does, the text must be the old path's. Returns whether it transcoded. */
function checkBlock(block: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH): boolean {
  const out = new JsonBytes(16)
  out.ascii('xx') // not at offset 0: offsets must be honoured
  const transcoded = transcodeDagCborJson(block, maxDepth, out)
  const old = stringified(block, maxDepth)
  if (!transcoded) {
    expect(out.length).toBe(2)
    return false
  }
  expect(old).toEqual({ text: out.bytes.subarray(2, out.length).toString('utf8') })
  // Byte for byte, not only as text: lone surrogates cannot occur, so UTF-8 round-trips.
  expect(Buffer.compare(out.bytes.subarray(2, out.length), Buffer.from((old as { text: string }).text))).toBe(0)
  return true
}

/** The entry JSON both ways for one frame; both must agree on success or on the error. */
function checkFrame(bytes: Uint8Array): void {
  let expected: string | { error: string }
  try {
    const event = decodeEvent(bytes)
    if (!isSequenced(event)) return
    expected = toStreamEntry(event).data
  } catch (err) {
    if (!(err instanceof FrameDecodeError)) throw err
    expected = { error: `${err.code}: ${err.message}` }
  }
  const scratch = new RecordJsonScratch()
  const out = new JsonBytes(16)
  let actual: string | { error: string }
  try {
    const event = decodeEvent(bytes, { recordJson: scratch.record })
    if (!isSequenced(event)) throw new Error('sequenced one way, not the other')
    writeEntryJson(event, out, scratch)
    actual = out.bytes.subarray(0, out.length).toString('utf8')
    expect(Buffer.compare(out.bytes.subarray(0, out.length), Buffer.from(actual))).toBe(0)
  } catch (err) {
    if (!(err instanceof FrameDecodeError)) throw err
    actual = { error: `${err.code}: ${err.message}` }
  }
  expect(actual).toEqual(expected)
}

describe('entry JSON straight from CBOR', () => {
  it('matches JSON.stringify on every frame of the committed fixture', async () => {
    if (!existsSync(COMMITTED_FIXTURE)) return
    const frames = await readFixtureFrames(COMMITTED_FIXTURE)
    expect(frames.length).toBeGreaterThan(1000)
    for (const bytes of frames) checkFrame(bytes)
  })

  it('matches JSON.stringify on every real frame', () => {
    const frames = allRealFrames()
    expect(frames.length).toBeGreaterThan(30)
    for (const { bytes } of frames) checkFrame(bytes)
  })

  it('matches on every block of the real repo CARs, and transcodes nearly all of them', () => {
    const dir = join(REAL_DATA, 'repo-cars')
    let blocks = 0
    let transcoded = 0
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.car'))) {
      const reader = CarBufferReader.fromBytes(readFileSync(join(dir, file)))
      for (const block of reader.blocks()) {
        blocks++
        if (checkBlock(block.bytes)) transcoded++
      }
    }
    expect(blocks).toBeGreaterThan(500)
    // MST nodes too: their keys are byte strings, their entries arrays of maps.
    expect(transcoded / blocks).toBeGreaterThan(0.9)
  })

  it('matches on the interop data-model vectors', () => {
    const vectors = JSON.parse(readFileSync(join(REAL_DATA, 'interop', 'data-model-fixtures.json'), 'utf8')) as { cbor_base64: string }[]
    for (const vector of vectors) checkBlock(Buffer.from(vector.cbor_base64, 'base64'))
  })

  it(`matches on seeded random values (seed ${SEED}, ${RUNS} runs)`, async () => {
    const cid = CID.createV1(dagCbor.code, await sha256.digest(new Uint8Array([1, 2, 3])))
    const cidV0 = CID.createV0(await sha256.digest(new Uint8Array([4])))
    // Keys: plain, digits first (JS orders them first), escapes, non-ASCII, the decoder's special ones.
    const key = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('0', '12', '1a', '/', 'bytes', '__proto__', '$type', '$link', 'a"b', 'é', '\n', 'text'))
    const leaf = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('', 'a\u0000b', '\u007f', '"\\', '\u2028\u2029', '😀'),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
      fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, -24, -25),
      fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom(cid, cidV0),
    )
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(key, tie('node'), { maxKeys: 6 })),
    })).node
    let transcoded = 0
    fc.assert(
      fc.property(value, fc.integer({ min: 1, max: 6 }), (v, maxDepth) => {
        let block: Uint8Array
        try {
          block = dagCbor.encode(v)
        } catch {
          return // not encodable (e.g. a non-safe float @ipld refuses)
        }
        if (checkBlock(block)) transcoded++
        checkBlock(block, maxDepth)
      }),
      { seed: SEED, numRuns: RUNS },
    )
    // Not only fallbacks: the generated values include plenty the fast path takes.
    expect(transcoded).toBeGreaterThan(RUNS / 10)
  })

  it(`agrees on corrupted blocks: the same text or a fallback (seed ${SEED})`, () => {
    const vectors = (JSON.parse(readFileSync(join(REAL_DATA, 'interop', 'data-model-fixtures.json'), 'utf8')) as { cbor_base64: string }[]).map((v) => Buffer.from(v.cbor_base64, 'base64'))
    fc.assert(
      fc.property(fc.constantFrom(...vectors), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), fc.nat(), (vector, flips, cut) => {
        const block = new Uint8Array(vector)
        for (const [at, byte] of flips) block[at % block.length] = byte
        checkBlock(block)
        checkBlock(block.subarray(0, cut % (block.length + 1)))
        checkBlock(new Uint8Array([...block, 0]))
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })
})

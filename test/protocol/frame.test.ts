import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { FrameErrorCode } from '../../protocol/errors.js'
import { decodeEvent } from '../../protocol/events.js'
import { DEFAULT_MAX_FRAME_BYTES, decodeFrame, encodeFrame } from '../../protocol/frame.js'
import { allRealFrames, concat, expectFrameError, hex } from './helpers.js'

// {op: 1, t: "#identity"} and {op: -1}, written out byte by byte.
const IDENTITY_HEADER = hex('a2 61 74 69 236964656e74697479 62 6f70 01')
const ERROR_HEADER = hex('a1 62 6f70 20')

describe('decodeFrame: headers', () => {
  it('splits a message frame into header {op: 1, t} and body', () => {
    const header = hex('a2 61 74 67 23636f6d6d6974 62 6f70 01') // {t: "#commit", op: 1}
    const body = dagCbor.encode({ seq: 5 })
    const frame = decodeFrame(concat(header, body))
    expect(frame).toEqual({ header: { op: 1, t: '#commit' }, body: { seq: 5 } })
  })

  it('decodes an error frame {op: -1} with body {error, message}', () => {
    const body = dagCbor.encode({ error: 'FutureCursor', message: 'Cursor in the future.' })
    expect(decodeFrame(concat(ERROR_HEADER, body))).toEqual({ header: { op: -1 }, body: { error: 'FutureCursor', message: 'Cursor in the future.' } })
    expect(decodeEvent(concat(ERROR_HEADER, body))).toEqual({ type: 'error', error: 'FutureCursor', message: 'Cursor in the future.' })
  })

  it('decodes an error frame without a message', () => {
    const bytes = concat(ERROR_HEADER, dagCbor.encode({ error: 'ConsumerTooSlow' }))
    expect(decodeEvent(bytes)).toEqual({ type: 'error', error: 'ConsumerTooSlow', message: null })
  })

  it('rejects an error frame whose body has no string `error`', () => {
    expectFrameError(() => decodeEvent(concat(ERROR_HEADER, dagCbor.encode({ message: 'x' }))), FrameErrorCode.BadBody)
  })

  it('rejects a header that is not a map', () => {
    const arrayHeader = dagCbor.encode([1, '#commit'])
    expectFrameError(() => decodeFrame(concat(arrayHeader, dagCbor.encode({ seq: 1 }))), FrameErrorCode.BadHeader)
    const stringHeader = dagCbor.encode('#commit')
    expectFrameError(() => decodeFrame(concat(stringHeader, dagCbor.encode({ seq: 1 }))), FrameErrorCode.BadHeader)
  })

  it('rejects a header with an op other than 1 or -1, or a message header without `t`', () => {
    const body = dagCbor.encode({ seq: 1 })
    expectFrameError(() => decodeFrame(concat(dagCbor.encode({ op: 2, t: '#commit' }), body)), FrameErrorCode.BadHeader)
    expectFrameError(() => decodeFrame(concat(dagCbor.encode({ op: 1 }), body)), FrameErrorCode.BadHeader)
    expectFrameError(() => decodeFrame(concat(dagCbor.encode({ op: 1, t: 7 }), body)), FrameErrorCode.BadHeader)
    expectFrameError(() => decodeFrame(concat(dagCbor.encode({ t: '#commit' }), body)), FrameErrorCode.BadHeader)
    // Found by the fuzz test: a BigInt op made the error message itself throw a TypeError.
    expectFrameError(() => decodeFrame(concat(dagCbor.encode({ op: 2n ** 62n, t: '#commit' }), body)), FrameErrorCode.BadHeader)
  })

  it('rejects a body that is not a map', () => {
    expectFrameError(() => decodeFrame(concat(IDENTITY_HEADER, dagCbor.encode([1, 2]))), FrameErrorCode.BadBody)
    expectFrameError(() => decodeFrame(concat(IDENTITY_HEADER, dagCbor.encode(null))), FrameErrorCode.BadBody)
  })
})

describe('decodeFrame: structural rejections', () => {
  it('rejects an empty frame and a frame with only a header as truncated', () => {
    expectFrameError(() => decodeFrame(new Uint8Array(0)), FrameErrorCode.Truncated)
    expectFrameError(() => decodeFrame(IDENTITY_HEADER), FrameErrorCode.Truncated)
  })

  it('rejects every strict prefix of a real frame as truncated', () => {
    const frame = allRealFrames().find((f) => f.name.endsWith('account_lifecycle/0002.cbor'))!.bytes // #sync, 402 bytes
    for (let len = 0; len < frame.byteLength; len++) {
      expectFrameError(() => decodeFrame(frame.subarray(0, len)), FrameErrorCode.Truncated)
    }
  })

  it('rejects trailing bytes after the body (a third item or garbage)', () => {
    const frame = concat(IDENTITY_HEADER, dagCbor.encode({ seq: 1 }))
    const err = expectFrameError(() => decodeFrame(concat(frame, hex('00'))), FrameErrorCode.TrailingBytes)
    expect(err.fields.trailing).toBe(1)
    expectFrameError(() => decodeFrame(concat(frame, dagCbor.encode({ seq: 2 }))), FrameErrorCode.TrailingBytes)
  })

  it('rejects frames above the size limit before parsing (default 5 MB, configurable)', () => {
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(5_000_000)
    const huge = new Uint8Array(DEFAULT_MAX_FRAME_BYTES + 1)
    const err = expectFrameError(() => decodeFrame(huge), FrameErrorCode.TooLarge)
    expect(err.fields).toMatchObject({ size: DEFAULT_MAX_FRAME_BYTES + 1, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES })
    const small = concat(IDENTITY_HEADER, dagCbor.encode({ seq: 1, pad: 'x'.repeat(200) }))
    expectFrameError(() => decodeFrame(small, { maxFrameBytes: 100 }), FrameErrorCode.TooLarge)
    expect(decodeFrame(small, { maxFrameBytes: small.byteLength }).body.seq).toBe(1)
  })

  it('accepts a frame of exactly the limit: the limit is inclusive', () => {
    const frameWithPad = (n: number) => concat(IDENTITY_HEADER, dagCbor.encode({ seq: 1, pad: new Uint8Array(n) }))
    const overhead = frameWithPad(100_000).byteLength - 100_000
    const exact = frameWithPad(DEFAULT_MAX_FRAME_BYTES - overhead)
    expect(exact.byteLength).toBe(DEFAULT_MAX_FRAME_BYTES)
    expect(decodeFrame(exact).body.seq).toBe(1)
  })

  it('rejects nesting deeper than the limit (default 64) with FRAME_TOO_DEEP', () => {
    const nested = (depth: number): Uint8Array => concat(new Uint8Array(depth).fill(0x81), hex('01')) // [[[...1]]]
    const body = (depth: number) => concat(hex('a2 63 736571 01 64 64656570'), nested(depth)) // {seq: 1, deep: ...}
    // The body map itself is one level.
    expect(decodeFrame(concat(IDENTITY_HEADER, body(63))).body.seq).toBe(1)
    expectFrameError(() => decodeFrame(concat(IDENTITY_HEADER, body(64))), FrameErrorCode.TooDeep)
    expect(decodeFrame(concat(IDENTITY_HEADER, body(64)), { maxDepth: 65 }).body.seq).toBe(1)
  })

  it('reports 100,000 nested levels as FRAME_TOO_DEEP, not a stack overflow', () => {
    const deep = concat(IDENTITY_HEADER, new Uint8Array(100_000).fill(0x81), hex('01'))
    expectFrameError(() => decodeFrame(deep), FrameErrorCode.TooDeep)
    const deepMaps = concat(IDENTITY_HEADER, hex('a16161'.repeat(100_000)), hex('01'))
    expectFrameError(() => decodeFrame(deepMaps), FrameErrorCode.TooDeep)
    expectFrameError(() => decodeFrame(concat(IDENTITY_HEADER, new Uint8Array(100_000).fill(0x81), hex('01')), { maxDepth: 100 }), FrameErrorCode.TooDeep)
  })

  it('rejects indefinite-length items, which DAG-CBOR forbids', () => {
    const body = hex('bf 63 736571 01 ff') // {_ seq: 1}
    expectFrameError(() => decodeFrame(concat(IDENTITY_HEADER, body)), FrameErrorCode.InvalidCbor)
  })

  it('rejects CBOR that scans but is not valid DAG-CBOR (duplicate keys, unknown tag)', () => {
    const duplicate = hex('a2 63 736571 01 63 736571 02')
    expectFrameError(() => decodeFrame(concat(IDENTITY_HEADER, duplicate)), FrameErrorCode.InvalidCbor)
    const badTag = hex('a1 63 736571 c1 01') // tag 1 (epoch time) is not allowed
    expectFrameError(() => decodeFrame(concat(IDENTITY_HEADER, badTag)), FrameErrorCode.InvalidCbor)
  })
})

describe('encodeFrame', () => {
  it('round-trips a message frame with links and bytes', () => {
    const cid = CID.parse('bafyreibs6fzaletha2gggf3wnldgxs4w4aqm3eu2jpwo5ffg2trxra7lu4')
    const body = { seq: 42, did: 'did:plc:x', link: cid, raw: new Uint8Array([1, 2, 3]), list: [1, 'two', null, true] }
    const frame = decodeFrame(encodeFrame({ op: 1, t: '#whatever' }, body))
    expect(frame.header).toEqual({ op: 1, t: '#whatever' })
    expect(frame.body).toEqual(body)
    expect(CID.asCID(frame.body.link)?.equals(cid)).toBe(true)
  })

  it('encodes the error header as the bytes relays send (a1 62 6f 70 20)', () => {
    const bytes = encodeFrame({ op: -1 }, { error: 'FutureCursor' })
    expect(Buffer.from(bytes.subarray(0, 5)).toString('hex')).toBe('a1626f7020')
    expect(decodeEvent(bytes)).toEqual({ type: 'error', error: 'FutureCursor', message: null })
  })

  it('re-encodes every real frame byte for byte', () => {
    for (const { name, bytes } of allRealFrames()) {
      const { header, body } = decodeFrame(bytes)
      expect(Buffer.from(encodeFrame(header, body)).equals(Buffer.from(bytes)), name).toBe(true)
    }
  })
})

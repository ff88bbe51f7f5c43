import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { FrameDecodeError, FrameErrorCode } from '../../protocol/errors.js'
import { decodeEvent } from '../../protocol/events.js'
import { decodeFrame, encodeFrame } from '../../protocol/frame.js'
import { peekFrame, peekFrameAccount } from '../../protocol/peek.js'
import { SeededRandom } from '../../common/random.js'
import { allRealFrames, concat, expectFrameError, hex } from './helpers.js'

const COMMIT_HEADER = dagCbor.encode({ op: 1, t: '#commit' })

describe('peekFrame', () => {
  it('agrees with decodeEvent on op, t and seq for every real frame', () => {
    const frames = allRealFrames()
    expect(frames.length).toBeGreaterThan(30)
    for (const { name, bytes } of frames) {
      const event = decodeEvent(bytes)
      const peek = peekFrame(bytes)
      expect(peek.op, name).toBe(1)
      expect(peek.seq, name).toBe('seq' in event ? event.seq : undefined)
      expect(peek.t, name).toBe(`#${event.type}`)
    }
  })

  it('reads error and info frames (no seq)', () => {
    expect(peekFrame(encodeFrame({ op: -1 }, { error: 'FutureCursor' }))).toEqual({ op: -1, t: undefined, seq: undefined })
    expect(peekFrame(encodeFrame({ op: 1, t: '#info' }, { name: 'OutdatedCursor' }))).toEqual({ op: 1, t: '#info', seq: undefined })
  })

  it('finds seq wherever it sits in the body, after skipping large values', () => {
    // Hand-built, non-canonical key order: {blocks: <70,000 bytes>, seq: 2^40}.
    const body = concat(hex('a2 66 626c6f636b73 5a 00011170'), new Uint8Array(70_000), hex('63 736571 1b 0000010000000000'))
    expect(peekFrame(concat(COMMIT_HEADER, body))).toEqual({ op: 1, t: '#commit', seq: 2 ** 40 })
  })

  it('reports seq as undefined when it is not a non-negative safe integer', () => {
    expect(peekFrame(encodeFrame({ op: 1, t: '#commit' }, { seq: 'x' })).seq).toBeUndefined()
    expect(peekFrame(encodeFrame({ op: 1, t: '#commit' }, { seq: -5 })).seq).toBeUndefined()
    expect(peekFrame(concat(COMMIT_HEADER, hex('a1 63 736571 1b ffffffffffffffff'))).seq).toBeUndefined()
  })

  it('rejects bad headers and non-map bodies', () => {
    expectFrameError(() => peekFrame(concat(dagCbor.encode([1]), dagCbor.encode({ seq: 1 }))), FrameErrorCode.BadHeader)
    expectFrameError(() => peekFrame(concat(dagCbor.encode({ op: 3 }), dagCbor.encode({ seq: 1 }))), FrameErrorCode.BadHeader)
    expectFrameError(() => peekFrame(concat(dagCbor.encode({ op: 1 }), dagCbor.encode({ seq: 1 }))), FrameErrorCode.BadHeader)
    expectFrameError(() => peekFrame(concat(COMMIT_HEADER, dagCbor.encode([1]))), FrameErrorCode.BadBody)
    expectFrameError(() => peekFrame(COMMIT_HEADER), FrameErrorCode.Truncated)
    expectFrameError(() => peekFrame(concat(COMMIT_HEADER, hex('bf 63 736571 01 ff'))), FrameErrorCode.InvalidCbor)
  })

  it('never reports a wrong seq for a truncated frame: it throws or gives the right answer', () => {
    expectRightOrTruncated(peekFrame)
  })

  it('reports a frame cut right after the seq key as truncated, not as seq 0', () => {
    const cut = concat(COMMIT_HEADER, hex('a1 63 736571'))
    expectFrameError(() => peekFrame(cut), FrameErrorCode.Truncated)
  })

  it('reports 100,000 nesting levels before seq as FRAME_TOO_DEEP', () => {
    const body = concat(hex('a2 61 61'), new Uint8Array(100_000).fill(0x81), hex('01 63 736571 01'))
    expectFrameError(() => peekFrame(concat(COMMIT_HEADER, body)), FrameErrorCode.TooDeep)
  })
})

/** What peekFrame gives or throws, the header decoded by @ipld/dag-cbor: the reference for the in-place header read. */
function referencePeek(bytes: Uint8Array): unknown {
  try {
    const peek = peekFrame(bytes)
    return { ok: true, op: peek.op, t: peek.t, seq: peek.seq }
  } catch (err) {
    if (!(err instanceof FrameDecodeError)) throw err
    return { ok: false, code: err.code }
  }
}

describe('peekFrame reads the usual header {t, op: 1} in place (every frame, on the main thread): the same as decoding it', () => {
  const SEED = Number(process.env.PEEK_SEED ?? 0x9ee4)
  const body = dagCbor.encode({ seq: 7 })

  it('for every type relays send, an unknown type, and the same header in another key order', () => {
    for (const t of ['#commit', '#identity', '#account', '#sync', '#info', '#handle', '#x', 'a'.repeat(23), 'a'.repeat(24)]) {
      expect(peekFrame(concat(dagCbor.encode({ op: 1, t }), body)), t).toEqual({ op: 1, t, seq: 7 })
      // {op, t}: not canonical, still DAG-CBOR our decoder reads; the in-place read leaves it to the decoder.
      if (t.length < 24) expect(peekFrame(concat(hex(`a2 62 6f70 01 61 74 ${hex1(0x60 + t.length)} ${Buffer.from(t).toString('hex')}`), body)), t).toEqual({ op: 1, t, seq: 7 })
    }
  })

  it(`on seeded one-byte changes of each usual header: what the decoding path gives (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED)
    for (const t of ['#commit', '#identity', '#account', '#sync', '#info']) {
      const header = dagCbor.encode({ op: 1, t })
      for (let i = 0; i < 300; i++) {
        const changed = Uint8Array.from(header)
        changed[random.int(0, changed.length - 1)] = random.int(0, 255)
        const frame = concat(changed, body)
        let expected: unknown
        try {
          const decoded = dagCbor.decode<Record<string, unknown>>(changed)
          const valid = (decoded.op === 1 && typeof decoded.t === 'string') || decoded.op === -1
          expected = valid ? { ok: true, op: decoded.op, t: decoded.op === 1 ? decoded.t : undefined, seq: 7 } : { ok: false, code: FrameErrorCode.BadHeader }
        } catch {
          expected = 'rejected'
        }
        const actual = referencePeek(frame)
        if (expected === 'rejected') expect((actual as { ok: boolean }).ok, `seed ${SEED}: ${hex2(changed)}`).toBe(false)
        else expect(actual, `seed ${SEED}: ${hex2(changed)}`).toEqual(expected)
      }
    }
  })
})

const hex1 = (byte: number): string => byte.toString(16).padStart(2, '0')
const hex2 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

describe('peekFrameAccount: the account a frame names, read in place (--verify resolves keys by it on the main thread)', () => {
  it('agrees with decodeFrame on `repo` (#commit) or `did` (other types) for every real frame', () => {
    for (const { name, bytes } of allRealFrames()) {
      const { header, body } = decodeFrame(bytes)
      const account = peekFrameAccount(bytes)
      expect(account.did, name).toBe(header.op === 1 && header.t === '#commit' ? body.repo : body.did)
      expect({ op: account.op, t: account.t, seq: account.seq }, name).toEqual(peekFrame(bytes))
    }
  })

  it('undefined when the key is absent, not text, or not ASCII (no DID is); the other key does not count', () => {
    const commit = (body: Record<string, unknown>) => peekFrameAccount(encodeFrame({ op: 1, t: '#commit' }, { seq: 1, ...body })).did
    expect(commit({ repo: 'did:plc:a' })).toBe('did:plc:a')
    expect(commit({ did: 'did:plc:a' })).toBeUndefined()
    expect(commit({ repo: 7 })).toBeUndefined()
    expect(commit({ repo: 'did:plc:é' })).toBeUndefined()
    expect(peekFrameAccount(encodeFrame({ op: 1, t: '#identity' }, { seq: 1, did: 'did:web:x.test', repo: 'did:plc:b' })).did).toBe('did:web:x.test')
    expect(peekFrameAccount(encodeFrame({ op: -1 }, { error: 'FutureCursor' })).did).toBeUndefined()
  })

  it('never reports a wrong account for a truncated frame: it throws FRAME_TRUNCATED or gives the right answer', () => {
    expectRightOrTruncated(peekFrameAccount)
  })
})

/** Every cut of 8 real frames: `peek` gives the whole frame's answer or throws FRAME_TRUNCATED. */
function expectRightOrTruncated(peek: (bytes: Uint8Array) => unknown): void {
  for (const { name, bytes } of allRealFrames().slice(0, 8)) {
    const whole = peek(bytes)
    for (let len = 0; len < bytes.byteLength; len++) {
      try {
        expect(peek(bytes.subarray(0, len)), `${name} cut at ${len}`).toEqual(whole)
      } catch (err) {
        if (!(err instanceof FrameDecodeError)) throw err
        expect(err.code, `${name} cut at ${len}`).toBe(FrameErrorCode.Truncated)
      }
    }
  }
}

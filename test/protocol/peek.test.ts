import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { FrameDecodeError, FrameErrorCode } from '../../protocol/errors.js'
import { decodeEvent } from '../../protocol/events.js'
import { encodeFrame } from '../../protocol/frame.js'
import { peekFrame } from '../../protocol/peek.js'
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
    for (const { name, bytes } of allRealFrames().slice(0, 8)) {
      const whole = peekFrame(bytes)
      for (let len = 0; len < bytes.byteLength; len++) {
        try {
          expect(peekFrame(bytes.subarray(0, len)), `${name} cut at ${len}`).toEqual(whole)
        } catch (err) {
          if (!(err instanceof FrameDecodeError)) throw err
          expect(err.code, `${name} cut at ${len}`).toBe(FrameErrorCode.Truncated)
        }
      }
    }
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

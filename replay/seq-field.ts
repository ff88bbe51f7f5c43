import * as dagCbor from '@ipld/dag-cbor'
import { scanCborItem } from '../protocol/cbor-scan.js'
import { FrameDecodeError, FrameErrorCode } from '../protocol/errors.js'
import { DEFAULT_MAX_DEPTH } from '../protocol/frame.js'

/**
 * The body's `seq` field, located structurally (no DAG-CBOR decoding): the replay hot path
 * reads it for every frame and rewrites it for --loop and the regress fault.
 */

const SEQ_KEY = [0x63, 0x73, 0x65, 0x71] // text(3) "seq"

/** The body's `seq` when it is an unsigned integer that fits a double exactly; undefined otherwise or for garbage. */
export function readSeq(bytes: Uint8Array): number | undefined {
  try {
    const location = locateSeq(bytes)
    if (location === undefined) return undefined
    const [value] = readHead(bytes, location.start)
    return Number.isSafeInteger(value) ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * Returns a copy of a frame whose body `seq` is `seq`. Only the seq value's bytes change
 * (re-encoded as a minimal CBOR unsigned integer); header, other fields and key order stay
 * byte-for-byte. Frames without a top-level unsigned `seq` are returned unchanged.
 */
export function withSeq(bytes: Uint8Array, seq: number): Uint8Array {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be a non-negative safe integer, got ${seq}`)
  const location = locateSeq(bytes)
  if (location === undefined) return bytes
  const value = dagCbor.encode(seq)
  const out = new Uint8Array(bytes.byteLength - (location.end - location.start) + value.byteLength)
  out.set(bytes.subarray(0, location.start), 0)
  out.set(value, location.start)
  out.set(bytes.subarray(location.end), location.start + value.byteLength)
  return out
}

/** Byte range of the body's `seq` value when it is an unsigned integer. */
function locateSeq(bytes: Uint8Array): { start: number; end: number } | undefined {
  const bodyStart = scanCborItem(bytes, 0, DEFAULT_MAX_DEPTH)
  if (bytes[bodyStart] === undefined || bytes[bodyStart] >> 5 !== 5) throw new FrameDecodeError(FrameErrorCode.BadBody, 'frame body is not a map')
  let [entries, pos] = readHead(bytes, bodyStart)
  for (; entries > 0; entries--) {
    const isSeqKey = SEQ_KEY.every((byte, k) => bytes[pos + k] === byte)
    pos = scanCborItem(bytes, pos, DEFAULT_MAX_DEPTH)
    const start = pos
    pos = scanCborItem(bytes, pos, DEFAULT_MAX_DEPTH)
    if (isSeqKey) return bytes[start]! >> 5 === 0 ? { start, end: pos } : undefined
  }
  return undefined
}

/** A CBOR head's argument and the offset after the head (callers have scanned the item already). */
function readHead(bytes: Uint8Array, pos: number): [number, number] {
  const info = bytes[pos]! & 31
  if (info < 24) return [info, pos + 1]
  if (info > 27) throw new FrameDecodeError(FrameErrorCode.InvalidCbor, `indefinite or reserved CBOR length at byte ${pos}`)
  const width = 1 << (info - 24)
  let value = 0
  for (let i = 1; i <= width; i++) value = value * 256 + bytes[pos + i]!
  return [value, pos + 1 + width]
}

/** Seq shift per --loop round: the first pass's seq span, so every round's seqs follow the previous round's. */
export function loopSpan(minSeq: number, maxSeq: number): number {
  return Number.isFinite(minSeq) ? maxSeq - minSeq + 1 : 0
}

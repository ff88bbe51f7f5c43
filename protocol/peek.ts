import { scanCborItem } from './cbor-scan.js'
import { FrameDecodeError, FrameErrorCode } from './errors.js'
import { DEFAULT_MAX_DEPTH, decodeCbor, isPlainMap } from './frame.js'

export interface FramePeek {
  op: 1 | -1
  /** Message type (`#commit`, ...); undefined for error frames. */
  t: string | undefined
  /** The body's `seq` when it is a non-negative integer; undefined otherwise (info/error frames). */
  seq: number | undefined
}

/**
 * Reads only a frame's header and its body's `seq`, skipping every other value without
 * decoding it. For hot paths that route or index frames (recorder, replay, cursor checks)
 * and must not pay for CAR blocks. Does not validate the body; decodeFrame does.
 */
export function peekFrame(bytes: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH): FramePeek {
  const headerEnd = scanCborItem(bytes, 0, maxDepth)
  const header = decodeCbor(bytes.subarray(0, headerEnd), 'header')
  if (!isPlainMap(header) || (header.op !== 1 && header.op !== -1)) {
    throw new FrameDecodeError(FrameErrorCode.BadHeader, 'frame header is not a map with op 1 or -1')
  }
  const t = header.op === 1 ? header.t : undefined
  if (header.op === 1 && typeof t !== 'string') throw new FrameDecodeError(FrameErrorCode.BadHeader, 'message frame header has no string `t`')
  return { op: header.op, t: t as string | undefined, seq: findSeq(bytes, headerEnd, maxDepth) }
}

function findSeq(bytes: Uint8Array, start: number, maxDepth: number): number | undefined {
  if (start >= bytes.length) throw new FrameDecodeError(FrameErrorCode.Truncated, 'frame has a header but no body')
  const initial = bytes[start]!
  if (initial >> 5 !== 5) throw new FrameDecodeError(FrameErrorCode.BadBody, 'frame body is not a map')
  const entries = readArgument(bytes, start)
  let pos = start + headLength(initial)
  for (let i = 0; i < entries; i++) {
    // text(3) "seq", compared in place: this runs for every frame on the main thread.
    const isSeqKey = bytes[pos] === 0x63 && bytes[pos + 1] === 0x73 && bytes[pos + 2] === 0x65 && bytes[pos + 3] === 0x71
    pos = scanCborItem(bytes, pos, maxDepth)
    const valueStart = pos
    // Scanning the value first turns a frame cut off inside it into FRAME_TRUNCATED.
    pos = scanCborItem(bytes, pos, maxDepth)
    if (isSeqKey) {
      if (bytes[valueStart]! >> 5 !== 0) return undefined
      const value = readArgument(bytes, valueStart)
      return Number.isSafeInteger(value) ? value : undefined
    }
  }
  return undefined
}

/** Bytes of a CBOR head with this initial byte, once readArgument has accepted it. */
function headLength(initial: number): number {
  const info = initial & 31
  return info < 24 ? 1 : 1 + (1 << (info - 24))
}

/** A CBOR head's argument; returns a number, not a tuple, so the per-frame scan allocates nothing. */
function readArgument(bytes: Uint8Array, pos: number): number {
  const info = bytes[pos]! & 31
  if (info < 24) return info
  if (info > 27) throw new FrameDecodeError(FrameErrorCode.InvalidCbor, `indefinite or reserved CBOR length at byte ${pos}`, { offset: pos })
  const width = 1 << (info - 24)
  if (pos + 1 + width > bytes.length) throw new FrameDecodeError(FrameErrorCode.Truncated, `CBOR head truncated at byte ${pos}`, { offset: pos })
  let value = 0
  for (let i = 1; i <= width; i++) value = value * 256 + bytes[pos + i]!
  return value
}

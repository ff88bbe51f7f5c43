import { asciiText, sameBytes } from './byte-range.js'
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
  return peekAfterHeader(bytes, scanCborItem(bytes, 0, maxDepth), maxDepth)
}

/** peekFrame once the header's end is known. */
function peekAfterHeader(bytes: Uint8Array, headerEnd: number, maxDepth: number): FramePeek {
  const usual = usualHeaderType(bytes, headerEnd)
  if (usual !== undefined) return { op: 1, t: usual, seq: findSeq(bytes, headerEnd, maxDepth) }
  const header = decodeCbor(bytes.subarray(0, headerEnd), 'header')
  if (!isPlainMap(header) || (header.op !== 1 && header.op !== -1)) {
    throw new FrameDecodeError(FrameErrorCode.BadHeader, 'frame header is not a map with op 1 or -1')
  }
  const t = header.op === 1 ? header.t : undefined
  if (header.op === 1 && typeof t !== 'string') throw new FrameDecodeError(FrameErrorCode.BadHeader, 'message frame header has no string `t`')
  return { op: header.op, t: t as string | undefined, seq: findSeq(bytes, headerEnd, maxDepth) }
}

/** The types relays send, with their bytes: the usual header's `t` is one of these strings, not a new one per frame. */
const KNOWN_TYPES = ['#commit', '#identity', '#account', '#sync', '#info'].map((t) => ({ t, bytes: Buffer.from(t, 'latin1') }))
/** `{t: <text>, op: 1}` in canonical DAG-CBOR: map of 2, "t", a short text string, ..., "op", 1. */
const HEADER_START = [0xa2, 0x61, 0x74]
const HEADER_END = [0x62, 0x6f, 0x70, 0x01]

/**
 * The `t` of the header every relay frame has, read in place (this runs on the main thread for
 * every frame); undefined for any other header, which takes the decoding path.
 */
function usualHeaderType(bytes: Uint8Array, headerEnd: number): string | undefined {
  const typeLength = headerEnd - HEADER_START.length - 1 - HEADER_END.length
  if (typeLength < 0 || typeLength > 23 || bytes[HEADER_START.length] !== 0x60 + typeLength) return undefined
  for (let i = 0; i < HEADER_START.length; i++) if (bytes[i] !== HEADER_START[i]) return undefined
  const typeStart = HEADER_START.length + 1
  const typeEnd = typeStart + typeLength
  for (let i = 0; i < HEADER_END.length; i++) if (bytes[typeEnd + i] !== HEADER_END[i]) return undefined
  for (const known of KNOWN_TYPES) if (sameBytes(bytes, typeStart, typeEnd, known.bytes, 0, known.bytes.length)) return known.t
  return undefined
}

/** The `seq` key of a body map: text(3) "seq". */
const SEQ_KEY = Buffer.from([0x63, 0x73, 0x65, 0x71])

function findSeq(bytes: Uint8Array, start: number, maxDepth: number): number | undefined {
  const valueStart = findBodyValue(bytes, start, maxDepth, SEQ_KEY)
  if (valueStart < 0 || bytes[valueStart]! >> 5 !== 0) return undefined
  const value = readArgument(bytes, valueStart)
  return Number.isSafeInteger(value) ? value : undefined
}

/**
 * Where the value of `key` (its encoded text item) starts in the body map at `start`; -1 when
 * absent. Keys are compared in place and values skipped undecoded: this runs for every frame on
 * the main thread.
 */
function findBodyValue(bytes: Uint8Array, start: number, maxDepth: number, key: Uint8Array): number {
  if (start >= bytes.length) throw new FrameDecodeError(FrameErrorCode.Truncated, 'frame has a header but no body')
  const initial = bytes[start]!
  if (initial >> 5 !== 5) throw new FrameDecodeError(FrameErrorCode.BadBody, 'frame body is not a map')
  const entries = readArgument(bytes, start)
  let pos = start + headLength(initial)
  for (let i = 0; i < entries; i++) {
    // The text head (length) first: most keys differ there.
    const isKey = bytes[pos] === key[0] && sameBytes(bytes, pos, pos + key.length, key, 0, key.length)
    pos = scanCborItem(bytes, pos, maxDepth)
    const valueStart = pos
    // Scanning the value first turns a frame cut off inside it into FRAME_TRUNCATED.
    pos = scanCborItem(bytes, pos, maxDepth)
    if (isKey) return valueStart
  }
  return -1
}

/** A frame's account as the body names it, with its `t` and `seq` (peekFrame's). */
export interface FrameAccount extends FramePeek {
  /** `repo` of a #commit, `did` of any other type; undefined when absent, not text or not ASCII (no DID is). */
  did: string | undefined
}

const REPO_KEY = Buffer.from([0x64, ...Buffer.from('repo')])
const DID_KEY = Buffer.from([0x63, ...Buffer.from('did')])

/**
 * peekFrame plus the account the frame is about, read in place: what the main thread needs of a
 * frame to resolve its signing key under --verify, without decoding its blocks or ops.
 */
export function peekFrameAccount(bytes: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH): FrameAccount {
  const headerEnd = scanCborItem(bytes, 0, maxDepth)
  const peek = peekAfterHeader(bytes, headerEnd, maxDepth)
  const valueStart = findBodyValue(bytes, headerEnd, maxDepth, peek.t === '#commit' ? REPO_KEY : DID_KEY)
  if (valueStart < 0 || bytes[valueStart]! >> 5 !== 3) return { ...peek, did: undefined }
  const textStart = valueStart + headLength(bytes[valueStart]!)
  return { ...peek, did: asciiText(bytes, textStart, textStart + readArgument(bytes, valueStart)) ?? undefined }
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

import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { decodeDagCborItem, LinkBytes, type LinkForm } from './dag-cbor.js'
import { FrameDecodeError, FrameErrorCode, describeValue } from './errors.js'
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME_BYTES } from './frame-limits.js'

/** Header of a message frame (`op: 1`, with a type `t`) or an error frame (`op: -1`). */
export type FrameHeader = { op: 1; t: string } | { op: -1 }

/**
 * A frame split into its two DAG-CBOR items; body values are still IPLD (CID objects, or LinkBytes
 * when decoded with LinkForm 'bytes'; Uint8Array). Byte strings are views into the decoded bytes
 * (no copy): do not reuse that buffer while using them.
 */
export interface Frame {
  header: FrameHeader
  body: Record<string, unknown>
}

export interface FrameLimits {
  /** Frames larger than this are rejected before any parsing. Relays cap inbound frames at 5,000,000 bytes. */
  maxFrameBytes?: number
  /** Deepest array/map nesting accepted, in the frame and in each record block. */
  maxDepth?: number
}

export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME_BYTES } from './frame-limits.js'

/** Splits and decodes one binary WebSocket message. Pure: bytes in, frame out, or a FrameDecodeError. */
export function decodeFrame(bytes: Uint8Array, limits: FrameLimits = {}, links: LinkForm = 'cid'): Frame {
  const maxFrameBytes = limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH
  if (bytes.byteLength > maxFrameBytes) {
    throw new FrameDecodeError(FrameErrorCode.TooLarge, `frame of ${bytes.byteLength} bytes exceeds the ${maxFrameBytes}-byte limit`, {
      size: bytes.byteLength,
      maxFrameBytes,
    })
  }
  if (bytes.byteLength === 0) throw new FrameDecodeError(FrameErrorCode.Truncated, 'empty frame')
  const header = decodeDagCborItem(bytes, 0, maxDepth, { part: 'header' })
  if (header.end === bytes.byteLength) {
    throw new FrameDecodeError(FrameErrorCode.Truncated, 'frame has a header but no body', { headerBytes: header.end })
  }
  const body = decodeDagCborItem(bytes, header.end, maxDepth, { part: 'body' }, links)
  if (body.end !== bytes.byteLength) {
    throw new FrameDecodeError(FrameErrorCode.TrailingBytes, `${bytes.byteLength - body.end} bytes after the frame body`, {
      trailing: bytes.byteLength - body.end,
    })
  }
  return { header: checkHeader(header.value), body: checkBody(body.value) }
}

/** Encodes a frame exactly as relays do: DAG-CBOR header followed by DAG-CBOR body. */
export function encodeFrame(header: FrameHeader, body: Record<string, unknown>): Uint8Array {
  const head = dagCbor.encode(header)
  const tail = dagCbor.encode(body)
  const out = new Uint8Array(head.byteLength + tail.byteLength)
  out.set(head, 0)
  out.set(tail, head.byteLength)
  return out
}

/** Decodes bytes that must hold exactly one DAG-CBOR item (a record block, a CAR header). */
export function decodeCbor(bytes: Uint8Array, what: string, fields: Record<string, unknown> = {}, maxDepth = DEFAULT_MAX_DEPTH): unknown {
  const { value, end } = decodeDagCborItem(bytes, 0, maxDepth, { ...fields, part: what })
  if (end !== bytes.byteLength) {
    throw new FrameDecodeError(FrameErrorCode.InvalidCbor, `invalid DAG-CBOR in ${what}: ${bytes.byteLength - end} bytes after the item`, { ...fields, part: what })
  }
  return value
}

function checkHeader(value: unknown): FrameHeader {
  if (!isPlainMap(value)) throw new FrameDecodeError(FrameErrorCode.BadHeader, 'frame header is not a map')
  if (value.op === -1) return { op: -1 }
  if (value.op === 1) {
    if (typeof value.t !== 'string') throw new FrameDecodeError(FrameErrorCode.BadHeader, 'message frame header has no string `t`')
    return { op: 1, t: value.t }
  }
  throw new FrameDecodeError(FrameErrorCode.BadHeader, `frame header has op ${describeValue(value.op)}, expected 1 or -1`)
}

function checkBody(value: unknown): Record<string, unknown> {
  if (!isPlainMap(value)) throw new FrameDecodeError(FrameErrorCode.BadBody, 'frame body is not a map')
  return value
}

export function isPlainMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof LinkBytes) && CID.asCID(value) === null
}

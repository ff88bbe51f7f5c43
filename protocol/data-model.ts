import { CID } from 'multiformats/cid'
import { FrameDecodeError, FrameErrorCode } from './errors.js'

/**
 * Converts a decoded DAG-CBOR value to the AT Protocol JSON data model:
 * CID links become `{"$link": "<cid>"}` and bytes become `{"$bytes": "<base64, no padding>"}`.
 * Integers beyond 2^53 (decoded as BigInt) have no JSON form a JS consumer can read back
 * exactly, so they are rejected (FRAME_BAD_BODY) rather than silently rounded.
 * `fields` (seq, path) is attached to that error.
 */
export function toJsonModel(value: unknown, fields: Record<string, unknown> = {}): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') {
      throw new FrameDecodeError(FrameErrorCode.BadBody, `integer ${value} is outside the JSON-safe range`, fields)
    }
    return value
  }
  if (value instanceof Uint8Array) return { $bytes: bytesToBase64(value) }
  if (Array.isArray(value)) return value.map((item) => toJsonModel(item, fields))
  const cid = CID.asCID(value)
  if (cid) return { $link: cidToString(cid) }
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const inner = toJsonModel((value as Record<string, unknown>)[key], fields)
    // Plain assignment of `__proto__` would set the prototype and drop the key.
    if (key === '__proto__') Object.defineProperty(out, key, { value: inner, enumerable: true, writable: true, configurable: true })
    else out[key] = inner
  }
  return out
}

export function bytesToBase64(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
  let end = b64.length
  while (end > 0 && b64.charCodeAt(end - 1) === 61 /* = */) end--
  return b64.slice(0, end)
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * A CID's canonical string, as `cid.toString()` gives it: multibase base32 ("b...") for CIDv1,
 * base58btc for CIDv0. Hand-rolled for v1 because multiformats caches every string in a
 * per-CID WeakMap, which made CID formatting a large share of decode time and GC.
 */
export function cidToString(cid: CID): string {
  return cid.version === 0 ? cid.toString() : cidV1ToString(cid.bytes)
}

const BASE32_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < BASE32.length; i++) BASE32_VALUE[BASE32.charCodeAt(i)] = i

/**
 * cidV1ToString's inverse: the bytes of a multibase base32 string, or null when it is not one that
 * cidV1ToString writes (another alphabet or case, bits left over that are not zero). The bytes are
 * not parsed as a CID: callers check the form they expect.
 */
export function cidV1FromString(text: string): Uint8Array | null {
  if (text.charCodeAt(0) !== 0x62 /* b */) return null
  const out = new Uint8Array(Math.floor(((text.length - 1) * 5) / 8))
  let buffer = 0
  let bits = 0
  let at = 0
  for (let i = 1; i < text.length; i++) {
    const code = text.charCodeAt(i)
    const value = code < 128 ? BASE32_VALUE[code]! : -1
    if (value < 0) return null
    buffer = ((buffer << 5) | value) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[at++] = (buffer >> bits) & 0xff
    }
  }
  // Bits left over must be zero (and fewer than 5): otherwise another string names the same bytes.
  return bits < 5 && (buffer & ((1 << bits) - 1)) === 0 ? out : null
}

const BASE32_CODES = Uint8Array.from(BASE32, (char) => char.charCodeAt(0))
/** The longest CID text written in place: 1 + ceil(75 * 8 / 5) characters (network CIDs are 36 bytes: 59). */
const CID_TEXT_SCRATCH = Buffer.allocUnsafe(121)

/**
 * The multibase base32 string of a CIDv1 given its binary form. Written as bytes and read as one
 * string: appending character by character made a string per character, 4x the time of this
 * (with writing it out) and a share of the decode worker's GC. A CID longer than 75 bytes gets a
 * buffer of its own rather than the scratch.
 */
export function cidV1ToString(bytes: Uint8Array): string {
  const length = bytes.length
  const textLength = 1 + Math.ceil((length * 8) / 5)
  const out = textLength <= CID_TEXT_SCRATCH.length ? CID_TEXT_SCRATCH : Buffer.allocUnsafe(textLength)
  out[0] = 0x62 // b
  let at = 1
  let i = 0
  // Five bytes are eight characters.
  for (; i + 5 <= length; i += 5) {
    const b0 = bytes[i]!
    const b1 = bytes[i + 1]!
    const b2 = bytes[i + 2]!
    const b3 = bytes[i + 3]!
    const b4 = bytes[i + 4]!
    out[at] = BASE32_CODES[b0 >> 3]!
    out[at + 1] = BASE32_CODES[((b0 & 7) << 2) | (b1 >> 6)]!
    out[at + 2] = BASE32_CODES[(b1 >> 1) & 31]!
    out[at + 3] = BASE32_CODES[((b1 & 1) << 4) | (b2 >> 4)]!
    out[at + 4] = BASE32_CODES[((b2 & 15) << 1) | (b3 >> 7)]!
    out[at + 5] = BASE32_CODES[(b3 >> 2) & 31]!
    out[at + 6] = BASE32_CODES[((b3 & 3) << 3) | (b4 >> 5)]!
    out[at + 7] = BASE32_CODES[b4 & 31]!
    at += 8
  }
  let buffer = 0
  let bits = 0
  for (; i < length; i++) {
    buffer = ((buffer << 8) | bytes[i]!) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out[at++] = BASE32_CODES[(buffer >> bits) & 31]!
    }
  }
  if (bits > 0) out[at++] = BASE32_CODES[(buffer << (5 - bits)) & 31]!
  return out.toString('latin1', 0, at)
}

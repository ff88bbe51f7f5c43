import { CID } from 'multiformats/cid'
import { Digest } from 'multiformats/hashes/digest'
import { bytesToBase64, cidToString, cidV1ToString } from './data-model.js'
import { FrameDecodeError, FrameErrorCode } from './errors.js'

/**
 * A single-pass DAG-CBOR decoder for the firehose hot path, accepting exactly what
 * @ipld/dag-cbor's decoder accepts (minimal integer/length encoding, string map keys without
 * duplicates, tag 42 CIDs only, no indefinite lengths, no NaN/Infinity, `undefined` read as
 * null, integers beyond 2^53 as BigInt) and producing the same values, except that byte
 * strings are views into the input rather than copies. It builds values straight from the
 * bytes (cborg allocates a token per item first, which made decoding GC-bound). It recurses
 * per nesting level, bounded by `maxDepth`, so it cannot overflow the stack.
 * Errors: FRAME_TRUNCATED, FRAME_TOO_DEEP, else FRAME_INVALID_CBOR; `fields` is attached.
 */
export function decodeDagCborItem(bytes: Uint8Array, start: number, maxDepth: number, fields: Record<string, unknown> = {}, links: LinkForm = 'cid'): { value: unknown; end: number } {
  // Byte strings are views of the input: make them plain Uint8Arrays even when a Buffer comes in.
  const plain = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const decoder = new Decoder(plain, start, maxDepth, fields, false, links === 'bytes')
  const value = decoder.item(0)
  return { value, end: decoder.pos }
}

/**
 * Decodes one item straight into the AT Protocol JSON data model (what toJsonModel makes of
 * decodeDagCborItem's value: `{$link}` for CIDs, `{$bytes}` for byte strings), in one pass and
 * without CID objects. `exact` is false when the item holds an integer beyond 2^53, which has no
 * JSON form: the caller then takes the two-step path, which names that error precisely.
 */
export function decodeDagCborJson(bytes: Uint8Array, start: number, maxDepth: number, fields: Record<string, unknown> = {}): { value: unknown; end: number; exact: boolean } {
  const decoder = new Decoder(bytes, start, maxDepth, fields, true, false)
  const value = decoder.item(0)
  return { value, end: decoder.pos, exact: !decoder.sawBigInt }
}

const textDecoder = new TextDecoder()
const CID_TAG = 42

/**
 * Map keys already read, by a hash of their bytes: a firehose frame's maps have the same dozen
 * keys every time, and a key read from here is neither built char by char nor internalized again
 * when it becomes a property. Bounded: KEY_CACHE_SLOTS strings of at most MAX_CACHED_KEY
 * characters; a key whose slot is taken replaces the one there.
 */
const KEY_CACHE_SLOTS = 512
const MAX_CACHED_KEY = 24
const keyCache = new Array<string | undefined>(KEY_CACHE_SLOTS).fill(undefined)

/** Whether `text`'s UTF-16 units equal bytes[start, start + text.length). */
function sameAscii(text: string, bytes: Uint8Array, start: number): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== bytes[start + i]) return false
  return true
}

// Below this length an ASCII string is built faster by hand than by TextDecoder (one string per
// character appended: 11 characters cost about one TextDecoder call here, 31 cost three).
const ASCII_FAST_PATH = 12
const TWO_32 = 2 ** 32

class Decoder {
  pos: number
  /** An integer outside the safe range was read (decoded as BigInt). */
  sawBigInt = false
  private view: DataView | undefined

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly maxDepth: number,
    private readonly fields: Record<string, unknown>,
    /** Build JSON-model values (decodeDagCborJson) instead of IPLD ones. */
    private readonly json: boolean,
    /** A simple CIDv1 becomes LinkBytes, not a CID (LinkForm 'bytes'). */
    private readonly linkBytes: boolean,
  ) {
    this.pos = start
  }

  item(depth: number): unknown {
    const bytes = this.bytes
    if (this.pos >= bytes.length) throw this.truncated()
    const initial = bytes[this.pos++]!
    const major = initial >> 5
    const info = initial & 31
    switch (major) {
      case 0:
        return this.argument(info)
      case 1: {
        const n = this.argument(info)
        if (typeof n === 'number' && -1 - n >= Number.MIN_SAFE_INTEGER) return -1 - n
        this.sawBigInt = true
        return -1n - BigInt(n)
      }
      case 2: {
        const length = this.length(info)
        const start = this.pos
        this.pos += length
        const view = bytes.subarray(start, this.pos)
        return this.json ? { $bytes: bytesToBase64(view) } : view
      }
      case 3:
        return this.string(this.length(info))
      case 4: {
        const count = this.count(info, 1, depth)
        const out = new Array<unknown>(count)
        for (let i = 0; i < count; i++) out[i] = this.item(depth + 1)
        return out
      }
      case 5:
        return this.map(this.count(info, 2, depth), depth)
      case 6:
        return this.json ? { $link: this.cidString(info) } : this.cid(info)
      default:
        return this.simple(info)
    }
  }

  private map(count: number, depth: number): Record<string, unknown> {
    const bytes = this.bytes
    const out: Record<string, unknown> = {}
    for (let i = 0; i < count; i++) {
      if (this.pos >= bytes.length) throw this.truncated()
      const initial = bytes[this.pos]!
      if (initial >> 5 !== 3) throw this.invalid(`map key at byte ${this.pos} is not a string`)
      this.pos++
      const key = this.key(this.length(initial & 31))
      if (Object.hasOwn(out, key)) throw this.invalid(`duplicate map key ${JSON.stringify(key)}`)
      const value = this.item(depth + 1)
      // Plain assignment of `__proto__` would set the prototype and drop the key.
      if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
      else out[key] = value
    }
    // toJsonModel takes a map whose '/' equals its 'bytes' for a CID from another library.
    if (this.json && Object.hasOwn(out, '/')) {
      const cid = CID.asCID(out)
      if (cid) return { $link: cidToString(cid) }
    }
    return out
  }

  private cid(info: number): CID | LinkBytes {
    const at = this.pos - 1
    const raw = this.cidBytes(info)
    if (!isSimpleCidV1(raw)) return this.decodeCid(raw, at)
    return this.linkBytes ? new LinkBytes(raw) : simpleCidV1(raw)
  }

  /** What cidToString(this.cid(info)) gives, without building the CID for the usual CIDv1. */
  private cidString(info: number): string {
    const at = this.pos - 1
    const raw = this.cidBytes(info)
    return isSimpleCidV1(raw) ? cidV1ToString(raw) : cidToString(this.decodeCid(raw, at))
  }

  /** The binary CID of a tag 42 item (after the 0x00 multibase prefix). */
  private cidBytes(info: number): Uint8Array {
    const at = this.pos - 1
    const tag = this.argument(info)
    if (tag !== CID_TAG) throw this.invalid(`CBOR tag ${String(tag)} at byte ${at} (DAG-CBOR allows only tag 42)`)
    if (this.pos >= this.bytes.length) throw this.truncated()
    const initial = this.bytes[this.pos++]!
    if (initial >> 5 !== 2) throw this.invalid(`tag 42 at byte ${at} does not wrap a byte string`)
    const length = this.length(initial & 31)
    if (length === 0 || this.bytes[this.pos] !== 0) throw this.invalid(`CID at byte ${at} lacks the 0x00 multibase prefix`)
    const raw = this.bytes.subarray(this.pos + 1, this.pos + length)
    this.pos += length
    return raw
  }

  private decodeCid(raw: Uint8Array, at: number): CID {
    try {
      return CID.decode(raw)
    } catch (cause) {
      throw this.invalid(`invalid CID at byte ${at}: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
    }
  }

  private simple(info: number): boolean | null | number {
    switch (info) {
      case 20:
        return false
      case 21:
        return true
      case 22:
      case 23: // undefined: @ipld/dag-cbor coerces it to null
        return null
      case 25:
      case 26:
      case 27:
        return this.float(info)
      default:
        throw this.invalid(info === 31 ? `indefinite-length CBOR at byte ${this.pos - 1}` : `unsupported CBOR simple value at byte ${this.pos - 1}`)
    }
  }

  private float(info: number): number {
    const width = 1 << (info - 24)
    if (this.pos + width > this.bytes.length) throw this.truncated()
    this.view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength)
    const at = this.pos
    this.pos += width
    const value = width === 2 ? half(this.view.getUint16(at)) : width === 4 ? this.view.getFloat32(at) : this.view.getFloat64(at)
    if (!Number.isFinite(value)) throw this.invalid(`${Number.isNaN(value) ? 'NaN' : 'Infinity'} at byte ${at - 1} (not allowed in DAG-CBOR)`)
    return value
  }

  /** A map key: through keyCache when it is short ASCII, else as any string. */
  private key(length: number): string {
    if (length > MAX_CACHED_KEY) return this.string(length)
    const bytes = this.bytes
    const start = this.pos
    const end = start + length
    let hash = length
    for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + bytes[i]!) | 0
    const slot = hash & (KEY_CACHE_SLOTS - 1)
    const cached = keyCache[slot]
    if (cached !== undefined && cached.length === length && sameAscii(cached, bytes, start)) {
      this.pos = end
      return cached
    }
    const key = this.string(length)
    // Only keys whose bytes are their characters are cached (sameAscii compares them so).
    if (key.length === length) keyCache[slot] = key
    return key
  }

  private string(length: number): string {
    const bytes = this.bytes
    const start = this.pos
    const end = start + length
    this.pos = end
    if (length < ASCII_FAST_PATH) {
      let out = ''
      for (let i = start; i < end; i++) {
        const c = bytes[i]!
        if (c & 0x80) return textDecoder.decode(bytes.subarray(start, end))
        out += String.fromCharCode(c)
      }
      return out
    }
    return textDecoder.decode(bytes.subarray(start, end))
  }

  /** Length of a byte or text string, checked against the bytes left. */
  private length(info: number): number {
    const length = this.argument(info)
    if (typeof length !== 'number' || this.pos + length > this.bytes.length) throw this.truncated()
    return length
  }

  /** Entry count of an array or map; each item takes at least one byte, so a larger count is truncation. */
  private count(info: number, itemsPerEntry: number, depth: number): number {
    const count = this.argument(info)
    if (typeof count !== 'number' || count * itemsPerEntry > this.bytes.length - this.pos) throw this.truncated()
    if (count > 0 && depth >= this.maxDepth) {
      throw new FrameDecodeError(FrameErrorCode.TooDeep, `CBOR nesting deeper than ${this.maxDepth} at byte ${this.pos}`, {
        ...this.fields,
        offset: this.pos,
        maxDepth: this.maxDepth,
      })
    }
    return count
  }

  /** The argument of a head with additional info `info`, minimally encoded as DAG-CBOR requires. */
  private argument(info: number): number | bigint {
    if (info < 24) return info
    const bytes = this.bytes
    const at = this.pos
    let value: number
    switch (info) {
      case 24:
        if (at + 1 > bytes.length) throw this.truncated()
        value = bytes[at]!
        this.pos += 1
        if (value < 24) break
        return value
      case 25:
        if (at + 2 > bytes.length) throw this.truncated()
        value = (bytes[at]! << 8) | bytes[at + 1]!
        this.pos += 2
        if (value < 0x100) break
        return value
      case 26:
        if (at + 4 > bytes.length) throw this.truncated()
        value = bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!)
        this.pos += 4
        if (value < 0x10000) break
        return value
      case 27: {
        if (at + 8 > bytes.length) throw this.truncated()
        const high = bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!)
        const low = bytes[at + 4]! * 0x1000000 + ((bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!)
        this.pos += 8
        if (high === 0) {
          value = low
          break // < 2^32 in 8 bytes is not minimal
        }
        const big = high * TWO_32 + low
        if (big <= Number.MAX_SAFE_INTEGER) return big
        this.sawBigInt = true
        return (BigInt(high) << 32n) | BigInt(low)
      }
      default:
        throw this.invalid(info === 31 ? `indefinite-length CBOR at byte ${at - 1} (not allowed in DAG-CBOR)` : `reserved CBOR additional info ${info} at byte ${at - 1}`)
    }
    throw this.invalid(`integer at byte ${at - 1} encoded in more bytes than necessary (${value})`)
  }

  private truncated(): FrameDecodeError {
    return new FrameDecodeError(FrameErrorCode.Truncated, `CBOR item truncated at byte ${this.pos} of ${this.bytes.length}`, { ...this.fields, offset: this.pos })
  }

  private invalid(reason: string, cause?: unknown): FrameDecodeError {
    return new FrameDecodeError(FrameErrorCode.InvalidCbor, `invalid DAG-CBOR: ${reason}`, this.fields, cause === undefined ? undefined : { cause })
  }
}

/**
 * How a decoded item's links come out: `cid`, CID objects (what @ipld/dag-cbor gives); `bytes`,
 * a simple CIDv1 (isSimpleCidV1, nearly every link on the network) as LinkBytes and any other as a
 * CID. For a caller that only looks links up by their bytes and prints them (protocol/events.ts):
 * no Digest and CID built per link.
 */
export type LinkForm = 'cid' | 'bytes'

/** A simple CIDv1 as decoded with LinkForm 'bytes': the CID's binary form (a view into the input), valid by construction. */
export class LinkBytes {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * The CID of bytes isSimpleCidV1 accepts: the same CID CID.decode builds, without its generic
 * re-parsing and byte coercion. `raw` is kept (a view: no copy).
 */
export function simpleCidV1(raw: Uint8Array): CID {
  return new CID(1, raw[1]!, new Digest(raw[2]!, raw[3]!, raw.subarray(4), raw.subarray(2)), raw)
}

/** A CIDv1 whose codec, hash code and digest length take one byte each, digest included whole. */
export function isSimpleCidV1(raw: Uint8Array): boolean {
  return raw[0] === 1 && raw[1]! < 0x80 && raw[2]! < 0x80 && raw[3]! < 0x80 && raw.length === 4 + raw[3]!
}

/** IEEE 754 half precision to a JS number. */
function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const fraction = bits & 0x3ff
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024)
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024)
}

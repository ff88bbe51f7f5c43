import { isSimpleCidV1 } from './dag-cbor.js'
import { sameBytes } from './byte-range.js'
import { bytesToBase64, cidV1ToString } from './data-model.js'
import type { JsonBytes } from './json-bytes.js'

/**
 * Writes a DAG-CBOR record block straight as JSON text: the bytes JSON.stringify(recordJson(block))
 * gives, without building the record's objects. Only for the usual shapes; on anything else it
 * writes nothing it keeps and returns false, and the caller takes the decoding path, which
 * gives the same text or throws the same error as before. Bails out on: any input the decoder
 * would reject (truncation, non-minimal or reserved heads, duplicate keys, tags other than 42,
 * trailing bytes, too deep), floats, integers beyond 2^53, CIDs other than the simple CIDv1,
 * map keys that are not ASCII, that JS objects order first (array indices: keys starting with a
 * digit) or that the decoder treats apart (`/`, `__proto__`), and maps of more than MAX_KEYS.
 */
export function transcodeDagCborJson(block: Uint8Array, maxDepth: number, out: JsonBytes): boolean {
  const start = out.length
  const transcoder = new Transcoder(block, maxDepth, out)
  if (transcoder.item(0) && transcoder.pos === block.length) return true
  out.length = start
  return false
}

/** Larger maps take the decoding path (duplicate-key check by linear search stays cheap). */
const MAX_KEYS = 64
const CID_TAG = 42
const PROTO = new TextEncoder().encode('__proto__')
const textDecoder = new TextDecoder()

class Transcoder {
  pos = 0

  constructor(
    private readonly bytes: Uint8Array,
    private readonly maxDepth: number,
    private readonly out: JsonBytes,
  ) {}

  /** One item; false: bail out. */
  item(depth: number): boolean {
    const bytes = this.bytes
    if (this.pos >= bytes.length) return false
    const initial = bytes[this.pos++]!
    const major = initial >> 5
    if (major === 7) return this.simple(initial & 31)
    const arg = this.argument(initial & 31)
    if (arg < 0) return false
    switch (major) {
      case 0:
        this.out.ascii(String(arg))
        return true
      case 1:
        if (arg === Number.MAX_SAFE_INTEGER) return false // -2^53: the decoder makes it a BigInt
        this.out.ascii(String(-1 - arg))
        return true
      case 2: {
        if (this.pos + arg > bytes.length) return false
        this.out.ascii('{"$bytes":"')
        this.out.ascii(bytesToBase64(bytes.subarray(this.pos, this.pos + arg)))
        this.out.ascii('"}')
        this.pos += arg
        return true
      }
      case 3:
        return this.text(arg)
      case 4:
        return this.array(arg, depth)
      case 5:
        return this.map(arg, depth)
      default:
        return arg === CID_TAG && this.cid() // major 6
    }
  }

  private array(count: number, depth: number): boolean {
    if (count > this.bytes.length - this.pos || (count > 0 && depth >= this.maxDepth)) return false
    this.out.byte(0x5b) // [
    for (let i = 0; i < count; i++) {
      if (i > 0) this.out.byte(0x2c) // ,
      if (!this.item(depth + 1)) return false
    }
    this.out.byte(0x5d) // ]
    return true
  }

  private map(count: number, depth: number): boolean {
    const bytes = this.bytes
    if (count > MAX_KEYS || count * 2 > bytes.length - this.pos || (count > 0 && depth >= this.maxDepth)) return false
    // Each key's [start, end) in the block, for the duplicate check: compared as bytes, never made strings.
    const spans: number[] = []
    this.out.byte(0x7b) // {
    for (let i = 0; i < count; i++) {
      if (this.pos >= bytes.length) return false
      const initial = bytes[this.pos++]!
      if (initial >> 5 !== 3) return false
      const length = this.argument(initial & 31)
      const start = this.pos
      const end = start + length
      if (length <= 0 || end > bytes.length) return false
      const first = bytes[start]!
      if ((first >= 0x30 && first <= 0x39) || (first === 0x2f && length === 1)) return false // digit; '/'
      for (let k = start; k < end; k++) {
        const c = bytes[k]!
        if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false
      }
      if (sameBytes(bytes, start, end, PROTO, 0, PROTO.length)) return false
      for (let k = 0; k < spans.length; k += 2) if (sameBytes(bytes, start, end, bytes, spans[k]!, spans[k + 1]!)) return false
      spans.push(start, end)
      this.pos = end
      if (i > 0) this.out.byte(0x2c)
      this.out.byte(0x22)
      this.out.copy(bytes, start, end)
      this.out.ascii('":')
      if (!this.item(depth + 1)) return false
    }
    this.out.byte(0x7d) // }
    return true
  }

  private text(length: number): boolean {
    const bytes = this.bytes
    const start = this.pos
    const end = start + length
    if (end > bytes.length) return false
    this.pos = end
    for (let i = start; i < end; i++) {
      const c = bytes[i]!
      if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) {
        // Escapes or non-ASCII: the decoder's string (invalid UTF-8 becomes U+FFFD), then JSON.stringify's escaping.
        this.out.utf8(JSON.stringify(textDecoder.decode(bytes.subarray(start, end))))
        return true
      }
    }
    this.out.byte(0x22)
    this.out.copy(bytes, start, end)
    this.out.byte(0x22)
    return true
  }

  /** After tag 42: `{"$link":"b..."}` for a simple CIDv1. */
  private cid(): boolean {
    const bytes = this.bytes
    if (this.pos >= bytes.length) return false
    const initial = bytes[this.pos++]!
    if (initial >> 5 !== 2) return false
    const length = this.argument(initial & 31)
    if (length <= 0 || this.pos + length > bytes.length || bytes[this.pos] !== 0) return false
    const raw = bytes.subarray(this.pos + 1, this.pos + length)
    if (!isSimpleCidV1(raw)) return false
    this.pos += length
    this.out.ascii('{"$link":"')
    this.out.ascii(cidV1ToString(raw))
    this.out.ascii('"}')
    return true
  }

  private simple(info: number): boolean {
    switch (info) {
      case 20:
        this.out.ascii('false')
        return true
      case 21:
        this.out.ascii('true')
        return true
      case 22:
      case 23: // undefined: decoded as null
        this.out.ascii('null')
        return true
      default:
        return false // floats and the rest
    }
  }

  /** A head's argument, minimally encoded and at most 2^53 - 1; -1: bail out (also when truncated or reserved). */
  private argument(info: number): number {
    if (info < 24) return info
    const bytes = this.bytes
    const at = this.pos
    if (info > 27) return -1
    const width = 1 << (info - 24)
    if (at + width > bytes.length) return -1
    let value = 0
    for (let i = 0; i < width; i++) value = value * 256 + bytes[at + i]!
    this.pos += width
    const minimum = info === 24 ? 24 : info === 25 ? 0x100 : info === 26 ? 0x10000 : 2 ** 32
    return value >= minimum && value <= Number.MAX_SAFE_INTEGER ? value : -1
  }
}

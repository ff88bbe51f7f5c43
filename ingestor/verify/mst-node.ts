import { CID } from 'multiformats/cid'
import { cidV1ToString } from '../../protocol/data-model.js'
import { VerifyError, VerifyErrorCode } from './errors.js'

/**
 * One MST node as the repository spec lays it out, with CIDs as their binary bytes (views into
 * the block, never copied or parsed into CID objects): `keys` in order, `values[i]` the record
 * CID of `keys[i]`, `subtrees[i]` the node holding the keys between `keys[i - 1]` and `keys[i]`
 * (`subtrees[0]` is the node's `l`, `subtrees[i + 1]` entry i's `t`).
 */
export interface MstNodeData {
  keys: string[]
  values: Uint8Array[]
  subtrees: (Uint8Array | null)[]
}

/** CBOR major types and the heads an MST node uses (DAG-CBOR: tag 42 for CIDs, in its one minimal head 0xd8 0x2a). */
export const MAP = 5
export const ARRAY = 4
export const BYTES = 2
export const TEXT = 3
export const UINT = 0
export const NULL = 0xf6
export const TAG_42 = [0xd8, 0x2a] as const
const MAX_KEY_LENGTH = 1024
/**
 * Where a node's keys are put together (each is its predecessor's prefix and its own suffix)
 * before becoming strings: one flat string per key. Fixed size: a longer key is refused.
 */
const KEY_SCRATCH = Buffer.alloc(MAX_KEY_LENGTH)

/** Characters of a collection or record key in an MST key (@atproto/repo ensureValidMstKey: [a-zA-Z0-9_~\-:.]). */
const KEY_CHAR = new Uint8Array(128)
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-:.') KEY_CHAR[c.charCodeAt(0)] = 1

/** True for a key @atproto/repo accepts in a tree: `collection/rkey`, both non-empty, at most 1024 characters. */
export function isValidMstKey(key: string): boolean {
  if (key.length > MAX_KEY_LENGTH) return false
  const slash = key.indexOf('/')
  if (slash <= 0 || slash === key.length - 1) return false
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    if (i !== slash && !(c < 128 && KEY_CHAR[c] === 1)) return false
  }
  return true
}

/**
 * Decodes the DAG-CBOR bytes of an MST node, `{l, e: [{p, k, v, t}]}`, straight from the bytes
 * (the hot path of commit verification: no generic decode, no CID objects). Refuses what
 * DAG-CBOR refuses (non-minimal heads, indefinite lengths, duplicate keys), other fields or
 * types, and what no tree holds: a key that is not a valid MST key, a prefix longer than the
 * previous key (or any on the first entry), keys out of order. Throws VerifyError BadProof.
 */
export function decodeMstNode(bytes: Uint8Array, cid: Uint8Array, fields: Record<string, unknown>): MstNodeData {
  const reader = new NodeReader(bytes)
  const node: MstNodeData = { keys: [], values: [], subtrees: [null] }
  let reason = reader.node(node)
  if (reason === null && reader.pos !== bytes.length) reason = `${bytes.length - reader.pos} bytes after the node`
  if (reason !== null) throw new VerifyError(VerifyErrorCode.BadProof, `MST proof does not hold: MST node ${cidText(cid)} is malformed: ${reason}`, fields)
  return node
}

/**
 * Reads one node; each step returns null or the reason it cannot. Failing with a string rather
 * than throwing keeps the error (and the node's CID string) off the path of well-formed nodes.
 */
class NodeReader {
  pos = 0

  constructor(private readonly bytes: Uint8Array) {}

  node(out: MstNodeData): string | null {
    if (this.head(MAP) !== 2) return 'not a map of l and e'
    let seen = 0
    for (let i = 0; i < 2; i++) {
      const field = this.fieldName()
      if (field === 0x6c /* l */ && (seen & 1) === 0) {
        seen |= 1
        const link = this.link(true)
        if (link === undefined) return 'l is not a CID or null'
        out.subtrees[0] = link
      } else if (field === 0x65 /* e */ && (seen & 2) === 0) {
        seen |= 2
        const reason = this.entries(out)
        if (reason !== null) return reason
      } else {
        return 'fields other than l and e'
      }
    }
    return null
  }

  private entries(out: MstNodeData): string | null {
    const bytes = this.bytes
    const count = this.head(ARRAY)
    if (count === null || count > bytes.length - this.pos) return 'e is not an array'
    // The previous key's bytes are in KEY_SCRATCH[0, length), its '/' at `slash`.
    let length = 0
    let slash = -1
    for (let i = 0; i < count; i++) {
      if (this.head(MAP) !== 4) return `entry ${i} is not a map of p, k, v and t`
      let prefix = -1
      let suffixStart = -1
      let suffixEnd = -1
      let value: Uint8Array | null | undefined
      let subtree: Uint8Array | null | undefined
      for (let f = 0; f < 4; f++) {
        const field = this.fieldName()
        if (field === 0x70 /* p */ && prefix === -1) {
          const p = this.head(UINT)
          if (p === null) return `entry ${i}: p is not an unsigned integer`
          prefix = p
        } else if (field === 0x6b /* k */ && suffixStart === -1) {
          const n = this.head(BYTES)
          if (n === null || n > bytes.length - this.pos) return `entry ${i}: k is not a byte string`
          suffixStart = this.pos
          suffixEnd = this.pos += n
        } else if (field === 0x76 /* v */ && value === undefined) {
          value = this.link(false)
          if (value === undefined) return `entry ${i}: v is not a CID`
        } else if (field === 0x74 /* t */ && subtree === undefined) {
          subtree = this.link(true)
          if (subtree === undefined) return `entry ${i}: t is not a CID or null`
        } else {
          return `entry ${i} has fields other than p, k, v and t`
        }
      }
      if (prefix > length || (i === 0 && prefix !== 0)) return `entry ${i} shares ${prefix} characters with a ${length}-character previous key`
      const keyLength = prefix + suffixEnd - suffixStart
      if (keyLength > MAX_KEY_LENGTH) return `entry ${i}: a key of ${keyLength} characters`
      // The key is the previous key's first `prefix` bytes and the suffix: written over the
      // previous key in place, compared with it (order) and checked (MST key) on the way.
      let order = 0
      let keySlash = slash < prefix ? slash : -1
      for (let at = prefix, j = suffixStart; j < suffixEnd; at++, j++) {
        const c = bytes[j]!
        if (order === 0 && at < length) order = c - KEY_SCRATCH[at]!
        if (c === 0x2f /* / */ && keySlash === -1) keySlash = at
        else if (!(c < 128 && KEY_CHAR[c] === 1)) return `entry ${i}: ${JSON.stringify(keyText(bytes, prefix, suffixStart, suffixEnd))} is not a valid MST key`
        KEY_SCRATCH[at] = c
      }
      if (order === 0) order = keyLength - length
      if (keySlash <= 0 || keySlash === keyLength - 1) return `entry ${i}: ${JSON.stringify(KEY_SCRATCH.toString('latin1', 0, keyLength))} is not a valid MST key`
      if (order <= 0) return `entry ${i}: key ${KEY_SCRATCH.toString('latin1', 0, keyLength)} does not come after the previous one`
      out.keys.push(KEY_SCRATCH.toString('latin1', 0, keyLength))
      out.values.push(value!)
      out.subtrees.push(subtree!)
      length = keyLength
      slash = keySlash
    }
    return null
  }

  /** A one-character map key's character code, or -1. */
  private fieldName(): number {
    if (this.head(TEXT) !== 1 || this.pos >= this.bytes.length) return -1
    return this.bytes[this.pos++]!
  }

  /** A CID's bytes (tag 42 around a byte string with the 0x00 prefix), null for CBOR null when `nullable`, undefined otherwise. */
  private link(nullable: boolean): Uint8Array | null | undefined {
    const bytes = this.bytes
    if (nullable && bytes[this.pos] === NULL) {
      this.pos++
      return null
    }
    if (bytes[this.pos] !== TAG_42[0] || bytes[this.pos + 1] !== TAG_42[1]) return undefined
    this.pos += 2
    const length = this.head(BYTES)
    if (length === null || length < 2 || length > bytes.length - this.pos || bytes[this.pos] !== 0) return undefined
    const cid = bytes.subarray(this.pos + 1, this.pos + length)
    this.pos += length
    return isCid(cid) ? cid : undefined
  }

  /** The argument of the next head, or null if it is of another major type, not minimal, indefinite, over 2^32 or truncated. */
  private head(major: number): number | null {
    const bytes = this.bytes
    if (this.pos >= bytes.length) return null
    const initial = bytes[this.pos++]!
    if (initial >> 5 !== major) return null
    const info = initial & 31
    if (info < 24) return info
    const width = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0
    if (width === 0 || this.pos + width > bytes.length) return null
    let value = 0
    for (let i = 0; i < width; i++) value = value * 256 + bytes[this.pos + i]!
    this.pos += width
    const minimum = width === 1 ? 24 : width === 2 ? 0x100 : 0x10000
    return value < minimum ? null : value
  }
}

/** The key whose suffix is at bytes[start, end) after `prefix` characters of KEY_SCRATCH (for messages). */
function keyText(bytes: Uint8Array, prefix: number, start: number, end: number): string {
  return KEY_SCRATCH.toString('latin1', 0, prefix) + Buffer.from(bytes.subarray(start, end)).toString('latin1')
}

/** A well-formed binary CID: v0 (a bare sha2-256 multihash) or v1 (version, codec, hash code, digest length, digest). */
function isCid(raw: Uint8Array): boolean {
  if (raw[0] === 0x12) return raw.length === 34 && raw[1] === 0x20
  if (raw[0] !== 1) return false
  let pos = 1
  let digestLength = 0
  for (let field = 0; field < 3; field++) {
    let value = 0
    let factor = 1
    for (;;) {
      if (pos >= raw.length || factor > 2 ** 28) return false
      const byte = raw[pos++]!
      value += (byte & 0x7f) * factor
      if (byte < 0x80) break
      factor *= 128
    }
    digestLength = value
  }
  return pos + digestLength === raw.length
}

/** A binary CID's usual string form, for messages (hex if it does not parse). */
export function cidText(cid: Uint8Array): string {
  if (cid[0] === 1) return cidV1ToString(cid)
  try {
    return CID.decode(cid).toString()
  } catch {
    return Buffer.from(cid).toString('hex')
  }
}

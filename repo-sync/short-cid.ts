/**
 * The string form of the short CIDs every MST root atproto writes (CIDv1, dag-cbor, sha2-256:
 * `bafyrei` + 52 more base32 characters), read and written without building a CID object: the
 * per-repo state is encoded for every commit a write changes, and CID.parse plus the canonical
 * check were a tenth of the write path's time with --repo-state (docs/performance.md). Anything
 * else returns null and the caller takes the general path (multiformats).
 */

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i

/** 'b' (multibase base32) + 58 characters: 36 bytes, whose last character carries 2 zero bits. */
const SHORT_CID_CHARS = 59
const SHORT_CID_BYTES = 36
/** CIDv1, dag-cbor, sha2-256, 32-byte digest. */
const PREFIX = [0x01, 0x71, 0x12, 0x20]

/** The 36 bytes of a short CID in its canonical string form; null for any other string (not this kind, or not canonical). */
export function shortCidBytes(text: string): Uint8Array | null {
  if (text.length !== SHORT_CID_CHARS || text.charCodeAt(0) !== 0x62 /* b */) return null
  const out = new Uint8Array(SHORT_CID_BYTES)
  let buffer = 0
  let bits = 0
  let at = 0
  for (let i = 1; i < SHORT_CID_CHARS; i++) {
    const code = text.charCodeAt(i)
    const value = code < 128 ? VALUE[code]! : -1
    if (value < 0) return null
    buffer = ((buffer << 5) | value) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[at++] = (buffer >> bits) & 0xff
    }
  }
  // The 2 bits left over must be zero: otherwise another string would name the same bytes.
  if ((buffer & ((1 << bits) - 1)) !== 0) return null
  for (let i = 0; i < PREFIX.length; i++) if (out[i] !== PREFIX[i]) return null
  return out
}

/** The canonical string of a short CID's 32-byte sha2-256 digest. */
export function shortCidString(digest: Uint8Array): string {
  let text = 'b'
  let buffer = 0
  let bits = 0
  const emit = (byte: number): void => {
    buffer = ((buffer << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      text += ALPHABET[(buffer >> bits) & 31]
    }
  }
  for (const byte of PREFIX) emit(byte)
  for (const byte of digest) emit(byte)
  if (bits > 0) text += ALPHABET[(buffer << (5 - bits)) & 31]
  return text
}

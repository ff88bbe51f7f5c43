/**
 * Revs are TIDs: 13 characters of base32-sortable (`234567a-z`), 64 bits of which the top one
 * is 0 (the first character is one of `234567abcdefghij`), the next 53 microseconds since the
 * epoch and the last 10 a clock id. Equal length and an alphabet in ASCII order make string
 * order the numeric order, so two TIDs compare as strings.
 *
 * A rev that is not a TID (wrong length, a character outside the alphabet, such as the `0` of
 * indigo's `rev_ordering` scenario) cannot be ordered against anything: the rules refuse it on
 * arrival (verdict `invalid-rev`), so a stored rev is always a TID and `compareRevs` is only
 * ever asked about TIDs. The Sync 1.1 relay refuses such revs too (`syntax.ParseTID`). A TID with
 * an odd clock ("legacy": `222222d7n7i22`, a non-Bluesky PDS counting from zero) is a TID and
 * orders as one.
 */
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'

export const TID_ALPHABET = '234567abcdefghijklmnopqrstuvwxyz'
export const TID_LENGTH = 13

const TID_PATTERN = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/

/** The alphabet index of each character code (-1: not in the alphabet). */
const INDEX = new Int8Array(128).fill(-1)
for (let i = 0; i < TID_ALPHABET.length; i++) INDEX[TID_ALPHABET.charCodeAt(i)] = i

export function isTid(rev: string): boolean {
  return TID_PATTERN.test(rev)
}

/**
 * The TID's timestamp in microseconds since the epoch. Exact up to 2^53 µs (year 2255); beyond
 * that the float rounds, which changes no verdict (any such rev is far in the future).
 * Throws REPO_SYNC_BAD_REV for a string that is not a TID.
 */
export function tidTimestampUs(rev: string): number {
  requireTid(rev)
  // Characters 0-10 are the value's bits 64..10 (bit 64 is 0 in a TID): the value shifted right
  // by the 10 clock-id bits, which is the timestamp.
  let timestampUs = 0
  for (let i = 0; i < 11; i++) timestampUs = timestampUs * 32 + INDEX[rev.charCodeAt(i)]!
  return timestampUs
}

/** The TID's timestamp in milliseconds since the epoch (a float: microseconds / 1000). */
export function tidTimestampMs(rev: string): number {
  return tidTimestampUs(rev) / 1000
}

/** Negative, 0 or positive as TID `a` is older than, equal to or newer than TID `b`. Throws REPO_SYNC_BAD_REV for a non-TID. */
export function compareRevs(a: string, b: string): number {
  requireTid(a)
  requireTid(b)
  return a < b ? -1 : a > b ? 1 : 0
}

/** The TID as its 64-bit value, 8 bytes big-endian, written into `out` at `offset` (the state codec's form). */
export function writeTidBytes(rev: string, out: Uint8Array, offset: number): void {
  requireTid(rev)
  // The first character carries 4 bits (its 5th, the 65th bit of 13 x 5, is always 0), the others 5.
  let buffer = INDEX[rev.charCodeAt(0)]!
  let bits = 4
  let at = offset
  for (let i = 1; i < TID_LENGTH; i++) {
    buffer = ((buffer << 5) | INDEX[rev.charCodeAt(i)]!) & 0x1fff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[at++] = (buffer >> bits) & 0xff
    }
  }
}

/** The TID whose 64-bit value is the 8 bytes at `offset` (inverse of writeTidBytes; every 64-bit value is a TID). */
export function readTidBytes(bytes: Uint8Array, offset: number): string {
  if (offset + 8 > bytes.length) throw new RepoSyncError(RepoSyncErrorCode.BadRev, `a TID needs 8 bytes at offset ${offset}, ${bytes.length - offset} left`, { offset })
  let out = TID_ALPHABET[bytes[offset]! >> 4]!
  let buffer = bytes[offset]! & 0x0f
  let bits = 4
  for (let i = offset + 1; i < offset + 8; i++) {
    buffer = ((buffer << 8) | bytes[i]!) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += TID_ALPHABET[(buffer >> bits) & 31]!
    }
  }
  return out
}

function requireTid(rev: string): void {
  if (!isTid(rev)) throw new RepoSyncError(RepoSyncErrorCode.BadRev, `rev ${JSON.stringify(rev.slice(0, 40))} is not a TID (13 base32-sortable characters)`, { rev: rev.slice(0, 40) })
}

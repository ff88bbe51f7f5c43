import { CID } from 'multiformats/cid'
import { asciiText } from './byte-range.js'
import { isSimpleCidV1, simpleCidV1 } from './dag-cbor.js'
import type { SignedCommit } from './repo-commit.js'

/**
 * The usual commit block (exactly did, rev, sig, data, prev and version, canonical DAG-CBOR,
 * ASCII strings) read in place, with where its `sig` entry lies: the bytes the signature signs
 * are the block with that entry cut out (ingestor/verify/commit-block.ts), and `commit.data` is
 * the MST root the decoder publishes (protocol/events.ts). Null for any other block, unusual or
 * malformed: callers then take @ipld/dag-cbor's path, which gives the same commit where both
 * read one (test/ingestor/verify-commit-block.test.ts, seeded mutations).
 */
export interface CanonicalCommit {
  commit: SignedCommit
  /** The block's `sig` entry, key included: bytes [sigStart, sigEnd). */
  sigStart: number
  sigEnd: number
}

/** The keys of a v3 commit in DAG-CBOR's canonical order (length, then bytes), each followed by its value. */
const KEYS = ['did', 'rev', 'sig', 'data', 'prev', 'version'].map((key) => Buffer.from(key, 'latin1'))
const [DID, REV, SIG, DATA, PREV, VERSION] = [0, 1, 2, 3, 4, 5]
const MAJOR_BYTES = 2
const MAJOR_TEXT = 3
const CBOR_NULL = 0xf6
/** Tag 42 (a CID) in its minimal form. */
const TAG_CID = [0xd8, 0x2a]

/** Where the payload of the string readString read starts and ends. */
interface Span {
  start: number
  end: number
}
const span: Span = { start: 0, end: 0 }

/** The block as a canonical v3 commit, or null (see CanonicalCommit). */
export function readCanonicalCommit(block: Uint8Array): CanonicalCommit | null {
  const head = block[0]
  if (head !== 0xa6 && head !== 0xa5) return null // a map of 6 entries (5 without prev)
  const withPrev = head === 0xa6
  let at = 1
  let did = ''
  let rev = ''
  let sigStart = 0
  let sigEnd = 0
  let sig: Uint8Array | null = null
  let data: CID | null = null
  let prev: CID | null = null
  for (let key = DID; key <= VERSION; key++) {
    if (key === PREV && !withPrev) continue
    if (key === SIG) sigStart = at
    at = readKey(block, at, KEYS[key]!)
    if (at < 0) return null
    switch (key) {
      case DID:
      case REV: {
        const text = readString(block, at, MAJOR_TEXT) ? asciiText(block, span.start, span.end) : null
        if (text === null) return null
        if (key === DID) did = text
        else rev = text
        at = span.end
        break
      }
      case SIG:
        if (!readString(block, at, MAJOR_BYTES)) return null
        sig = block.subarray(span.start, span.end)
        at = sigEnd = span.end
        break
      case DATA:
      case PREV: {
        if (key === PREV && block[at] === CBOR_NULL) {
          at++
          break
        }
        const cid = readCid(block, at)
        if (cid === null) return null
        if (key === DATA) data = cid
        else prev = cid
        at = span.end
        break
      }
      case VERSION:
        if (block[at] !== 3) return null
        at++
    }
  }
  if (at !== block.length || sig === null || data === null) return null
  // Without prev, the object has no prev key either: as decoded, so that unsignedBytes(commit) gives the same bytes as the cut.
  const commit = withPrev ? { did, rev, sig, data, prev, version: 3 } : ({ did, rev, sig, data, version: 3 } as SignedCommit)
  return { commit, sigStart, sigEnd }
}

/** The position after `key` (a text string key) at `at`, or -1 when another key is there. */
function readKey(block: Uint8Array, at: number, key: Uint8Array): number {
  if (block[at] !== ((MAJOR_TEXT << 5) | key.length)) return -1
  for (let i = 0; i < key.length; i++) if (block[at + 1 + i] !== key[i]) return -1
  return at + 1 + key.length
}

/** A byte or text string (major) with a minimal length at `at` into span; false otherwise. */
function readString(block: Uint8Array, at: number, major: number): boolean {
  const first = block[at]
  if (first === undefined || first >> 5 !== major) return false
  const info = first & 31
  let length: number
  let start: number
  if (info < 24) {
    length = info
    start = at + 1
  } else if (info === 24) {
    length = block[at + 1] ?? 0
    if (length < 24) return false
    start = at + 2
  } else if (info === 25) {
    length = ((block[at + 1] ?? 0) << 8) | (block[at + 2] ?? 0)
    if (length < 256) return false
    start = at + 3
  } else return false // 64 KiB or more: not a commit's field
  if (start + length > block.length) return false
  span.start = start
  span.end = start + length
  return true
}

/** A CID (tag 42, bytes 0x00 || CID) at `at`, its end in span.end; null when anything else (CID.decode refuses what dag-cbor would). */
function readCid(block: Uint8Array, at: number): CID | null {
  if (block[at] !== TAG_CID[0] || block[at + 1] !== TAG_CID[1] || !readString(block, at + 2, MAJOR_BYTES)) return null
  if (span.end - span.start < 2 || block[span.start] !== 0) return null
  const raw = block.subarray(span.start + 1, span.end)
  if (isSimpleCidV1(raw)) return simpleCidV1(raw)
  try {
    return CID.decode(raw)
  } catch {
    return null
  }
}

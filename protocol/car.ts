import * as nodeCrypto from 'node:crypto'
import { CID } from 'multiformats/cid'
import { FrameDecodeError, FrameErrorCode } from './errors.js'
import { sameBytes } from './byte-range.js'
import { decodeCbor } from './frame.js'

const SHA2_256 = 0x12
const SHA2_256_LENGTH = 32
// The CAR header is {version, roots: [CID...]}: two levels.
const CAR_HEADER_MAX_DEPTH = 4

/**
 * SHA-256 of a block as a latin1 string (one char per byte). One-shot `crypto.hash` with string
 * output: most blocks are a few hundred bytes, where allocating a Buffer for the digest cost
 * three times the hashing itself (createHash().update().digest() more still).
 */
const sha256Latin1 = (data: Uint8Array): string => nodeCrypto.hash('sha256', data, 'binary') // 'binary' is latin1

export interface CarBlocks {
  roots: CID[]
  /**
   * The bytes of the block with this CID, or undefined when the CAR does not carry it.
   * Throws FRAME_BLOCK_HASH_MISMATCH (or FRAME_BAD_CAR for a non-sha256 CID) when verifying.
   */
  get(cid: { readonly bytes: Uint8Array }): Uint8Array | undefined
  readonly size: number
  /** Every block in CAR order (a CID present twice: its first place, its last data); checked only when `verify` is `all`. */
  entries(): Iterable<{ cid: Uint8Array; data: Uint8Array }>
}

/**
 * Which CAR blocks must hash (sha2-256) to their CID: `all` (every block, checked up front),
 * `records` (only blocks read through `get`, so a relay cannot hand us a record that does not
 * match the CID we publish for it; MST nodes and the commit block prove nothing to us without a
 * signature check, and hashing them is about half the decode time), or `none`.
 */
export type BlockVerification = 'all' | 'records' | 'none'

/**
 * Reads a CAR v1 byte array (a commit's `blocks`) without copying: block bytes are views into
 * `bytes`, checked against their CID as `verify` says. Hand-rolled rather than @ipld/car's CarBufferReader because this
 * is the decoder's hot path: no CID objects or base32 strings for blocks nobody looks up.
 */
export function readCar(bytes: Uint8Array, verify: BlockVerification, fields: Record<string, unknown> = {}): CarBlocks {
  const bad = badCar(fields)

  const [headerLength, headerStart] = readVarint(bytes, 0, bad)
  const headerEnd = headerStart + headerLength
  if (headerLength === 0 || headerEnd > bytes.length) throw bad('header truncated')
  const roots = readHeader(bytes.subarray(headerStart, headerEnd), bad)

  const sections = new SectionIndex(bytes)
  let pos = headerEnd
  while (pos < bytes.length) {
    const [sectionLength, start] = readVarint(bytes, pos, bad)
    const end = start + sectionLength
    if (sectionLength === 0 || end > bytes.length) throw bad(`block section at byte ${pos} truncated`)
    const cid = readCidHead(bytes, start, end, bad)
    sections.set(cid, bytes.subarray(cid.end, end), verify === 'none')
    pos = end
  }
  if (verify === 'all') {
    for (const section of sections.inOrder) {
      verifyBlock(bytes, section, fields)
      section.verified = true
    }
  }
  return {
    roots,
    size: sections.inOrder.length,
    get(cid) {
      const section = sections.get(cid.bytes)
      if (section === undefined) return undefined
      if (!section.verified) {
        verifyBlock(bytes, section, fields)
        section.verified = true
      }
      return section.data
    },
    *entries() {
      for (const section of sections.inOrder) yield { cid: bytes.subarray(section.cid.start, section.cid.end), data: section.data }
    },
  }
}

/** The roots of a CAR v1 header (its DAG-CBOR bytes, after the length varint). Throws FRAME_BAD_CAR. */
export function readCarHeader(header: Uint8Array, fields: Record<string, unknown> = {}): CID[] {
  return readHeader(header, badCar(fields))
}

function badCar(fields: Record<string, unknown>): (reason: string, cause?: unknown) => FrameDecodeError {
  return (reason, cause) => new FrameDecodeError(FrameErrorCode.BadCar, `invalid CAR: ${reason}`, fields, cause === undefined ? undefined : { cause })
}

/**
 * The CAR's blocks by CID, keyed by the CID's last four bytes (digest bytes: uniformly spread)
 * and confirmed by comparing the whole CID; no string per block. A CID present twice keeps its
 * first position and its last data, as a Map keyed by CID would.
 */
class SectionIndex {
  readonly inOrder: Section[] = []
  private readonly byTail = new Map<number, Section>()

  constructor(private readonly bytes: Uint8Array) {}

  set(cid: CidHead, data: Uint8Array, verified: boolean): void {
    const tail = tailKey(this.bytes, cid.start, cid.end)
    const first = this.byTail.get(tail)
    for (let section = first; section !== undefined; section = section.next) {
      if (sameBytes(this.bytes, section.cid.start, section.cid.end, this.bytes, cid.start, cid.end)) {
        section.cid = cid
        section.data = data
        section.verified = verified
        return
      }
    }
    const section: Section = { cid, data, verified, next: first }
    this.byTail.set(tail, section)
    this.inOrder.push(section)
  }

  get(cidBytes: Uint8Array): Section | undefined {
    for (let section = this.byTail.get(tailKey(cidBytes, 0, cidBytes.length)); section !== undefined; section = section.next) {
      if (sameBytes(this.bytes, section.cid.start, section.cid.end, cidBytes, 0, cidBytes.length)) return section
    }
    return undefined
  }
}

/** Up to the last four bytes of bytes[start, end) as an integer. */
function tailKey(bytes: Uint8Array, start: number, end: number): number {
  let key = 0
  for (let i = Math.max(start, end - 4); i < end; i++) key = key * 256 + bytes[i]!
  return key
}

interface Section {
  cid: CidHead
  data: Uint8Array
  verified: boolean
  /** The next section whose CID ends in the same four bytes. */
  next: Section | undefined
}

function readHeader(header: Uint8Array, bad: (reason: string, cause?: unknown) => FrameDecodeError): CID[] {
  let value: unknown
  try {
    value = decodeCbor(header, 'CAR header', {}, CAR_HEADER_MAX_DEPTH)
  } catch (cause) {
    throw bad(`header is not DAG-CBOR: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
  }
  const { version, roots } = (typeof value === 'object' && value !== null ? value : {}) as { version?: unknown; roots?: unknown }
  if (version !== 1) throw bad(`unsupported CAR version ${String(version)}`)
  if (!Array.isArray(roots)) throw bad('header has no roots array')
  return roots.map((root) => {
    const cid = CID.asCID(root)
    if (!cid) throw bad('header root is not a CID')
    return cid
  })
}

interface CidHead {
  start: number
  hashCode: number
  digestStart: number
  /** Offset just past the CID, where the block data starts. */
  end: number
}

/** Parses the CID at the start of a block section (CIDv0 = bare sha2-256 multihash, or CIDv1). */
function readCidHead(bytes: Uint8Array, start: number, limit: number, bad: (reason: string) => FrameDecodeError): CidHead {
  let pos = start
  // A CIDv0 is the bare multihash: nothing to skip before it.
  if (bytes[pos] !== SHA2_256 || bytes[pos + 1] !== SHA2_256_LENGTH) {
    let version: number
    ;[version, pos] = readVarint(bytes, pos, bad)
    if (version !== 1) throw bad(`block CID version ${version} at byte ${start}`)
    pos = readVarint(bytes, pos, bad)[1] // codec
  }
  const [hashCode, afterCode] = readVarint(bytes, pos, bad)
  const [digestLength, digestStart] = readVarint(bytes, afterCode, bad)
  const end = digestStart + digestLength
  if (end > limit) throw bad(`block CID at byte ${start} runs past its section`)
  return { start, hashCode, digestStart, end }
}

function verifyBlock(bytes: Uint8Array, section: Section, fields: Record<string, unknown>): void {
  const { cid } = section
  const digestLength = cid.end - cid.digestStart
  if (cid.hashCode !== SHA2_256 || digestLength !== SHA2_256_LENGTH) {
    const name = cidString(bytes, cid)
    throw new FrameDecodeError(FrameErrorCode.BadCar, `block ${name} uses unsupported hash 0x${cid.hashCode.toString(16)}`, { ...fields, cid: name })
  }
  const digest = sha256Latin1(section.data)
  for (let i = 0; i < SHA2_256_LENGTH; i++) {
    if (digest.charCodeAt(i) !== bytes[cid.digestStart + i]) {
      const name = cidString(bytes, cid)
      throw new FrameDecodeError(FrameErrorCode.BlockHashMismatch, `block ${name} does not hash to its CID`, { ...fields, cid: name })
    }
  }
}

/** The CID's usual string form for error fields (hex if multiformats cannot parse it). */
function cidString(bytes: Uint8Array, cid: CidHead): string {
  const raw = bytes.subarray(cid.start, cid.end)
  try {
    return CID.decode(raw).toString()
  } catch {
    return Buffer.from(raw).toString('hex')
  }
}

/** Unsigned LEB128 varint (multiformats, CAR section lengths); returns [value, offset after it]. */
function readVarint(bytes: Uint8Array, start: number, bad: (reason: string) => FrameDecodeError): [number, number] {
  let value = 0
  let factor = 1
  for (let pos = start; pos < bytes.length && pos < start + 8; pos++) {
    const byte = bytes[pos]!
    value += (byte & 0x7f) * factor
    if (byte < 0x80) return [value, pos + 1]
    factor *= 128
  }
  throw bad(`truncated or oversized varint at byte ${start}`)
}

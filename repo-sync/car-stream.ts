import * as nodeCrypto from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { readCarHeader } from '../protocol/car.js'
import { cidV1ToString } from '../protocol/data-model.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'

/** One block of the CAR: its CID (binary) and data, both views valid until the next block is read. */
export interface CarBlock {
  cid: Uint8Array
  data: Uint8Array
}

export type CarItem = { kind: 'header'; roots: CID[] } | ({ kind: 'block' } & CarBlock)

/** A header larger than this is not a repo's (one root CID: ~60 bytes). */
const MAX_HEADER_BYTES = 64 * 1024
/** The binary CIDs of atproto blocks (DASL): CIDv1, dag-cbor or raw, sha2-256: 4 bytes of prefix + 32 of digest. */
const CID_BYTES = 36
const CODEC_DAG_CBOR = 0x71
const CODEC_RAW = 0x55
const SHA2_256 = 0x12
const EMPTY = new Uint8Array(0)

/**
 * Parses a CAR v1 as its bytes arrive: first the header, then each block, hashed (sha2-256)
 * against its CID before it is handed on. Memory: one section at a time (a view into the
 * network chunk, or one copy when a section spans chunks), so at most `maxBlockBytes` beyond the
 * chunk in hand. Throws RepoSyncError BAD_CAR (framing, header, a CID other than atproto's,
 * a section over `maxBlockBytes`), BAD_BLOCK (hash mismatch), TRUNCATED (the bytes end inside a
 * section); errors of `chunks` pass through.
 */
export async function* readCarStream(chunks: AsyncIterable<Uint8Array>, maxBlockBytes: number): AsyncGenerator<CarItem> {
  const reader = new ChunkReader(chunks[Symbol.asyncIterator]())
  try {
    yield* readSections(reader, maxBlockBytes)
  } finally {
    // Stopped early (an error, or the caller's): the source learns it too (closes its socket).
    await reader.close()
  }
}

async function* readSections(reader: ChunkReader, maxBlockBytes: number): AsyncGenerator<CarItem> {
  const headerLength = await reader.varint('header length')
  if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) throw badCar(`header length ${headerLength} (expected 1 to ${MAX_HEADER_BYTES} bytes)`)
  const header = await reader.bytes(headerLength, 'header')
  let roots: CID[]
  try {
    roots = readCarHeader(header)
  } catch (err) {
    if (isFrameDecodeError(err)) throw badCar(err.message, err)
    throw err
  }
  yield { kind: 'header', roots }
  while (!(await reader.atEnd())) {
    const at = reader.offset
    const length = await reader.varint(`section length at byte ${at}`)
    if (length <= CID_BYTES) throw badCar(`section at byte ${at} is ${length} bytes: too short for a CID and data`)
    if (length - CID_BYTES > maxBlockBytes) throw badCar(`block at byte ${at} is ${length - CID_BYTES} bytes, over the ${maxBlockBytes}-byte limit`, undefined, { bytes: length - CID_BYTES, limitBytes: maxBlockBytes })
    const section = await reader.bytes(length, `section at byte ${at}`)
    const cid = section.subarray(0, CID_BYTES)
    if (cid[0] !== 1 || (cid[1] !== CODEC_DAG_CBOR && cid[1] !== CODEC_RAW) || cid[2] !== SHA2_256 || cid[3] !== 32) {
      throw badCar(`block at byte ${at} has CID prefix ${Buffer.from(section.subarray(0, 4)).toString('hex')}: atproto blocks are CIDv1, dag-cbor or raw, sha2-256`)
    }
    const data = section.subarray(CID_BYTES)
    const digest = nodeCrypto.hash('sha256', data, 'buffer') as Buffer
    if (!digest.equals(cid.subarray(4))) {
      const name = cidV1ToString(cid)
      throw new RepoSyncError(RepoSyncErrorCode.BadBlock, `block ${name} at byte ${at} does not hash to its CID`, { cid: name })
    }
    yield { kind: 'block', cid, data }
  }
}

function badCar(reason: string, cause?: unknown, fields: Record<string, number> = {}): RepoSyncError {
  return new RepoSyncError(RepoSyncErrorCode.BadCar, `not a CAR v1: ${reason}`, fields, cause === undefined ? undefined : { cause })
}

/** Reads exact byte counts and varints across the chunks of a stream. */
class ChunkReader {
  private chunk: Uint8Array = EMPTY
  private pos = 0
  /** Bytes consumed so far. */
  offset = 0

  constructor(private readonly chunks: AsyncIterator<Uint8Array>) {}

  async close(): Promise<void> {
    await this.chunks.return?.()
  }

  /** True when every byte has been read and the stream has ended. */
  async atEnd(): Promise<boolean> {
    return !(await this.refill())
  }

  /** An unsigned LEB128 varint of at most 8 bytes. */
  async varint(what: string): Promise<number> {
    let value = 0
    let factor = 1
    for (let i = 0; i < 8; i++) {
      if (!(await this.refill())) throw this.truncated(what)
      const byte = this.chunk[this.pos++]!
      this.offset++
      value += (byte & 0x7f) * factor
      if (byte < 0x80) return value
      factor *= 128
    }
    throw badCar(`${what}: varint longer than 8 bytes`)
  }

  /** The next `length` bytes: a view into the chunk when they lie in one, else a copy. */
  async bytes(length: number, what: string): Promise<Uint8Array> {
    if (!(await this.refill()) && length > 0) throw this.truncated(what)
    if (this.pos + length <= this.chunk.length) {
      const view = this.chunk.subarray(this.pos, this.pos + length)
      this.pos += length
      this.offset += length
      return view
    }
    const out = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      if (!(await this.refill())) throw this.truncated(what)
      const take = Math.min(length - filled, this.chunk.length - this.pos)
      out.set(this.chunk.subarray(this.pos, this.pos + take), filled)
      filled += take
      this.pos += take
      this.offset += take
    }
    return out
  }

  /** Makes sure an unread byte is in hand; false at the end of the stream (empty chunks are skipped). */
  private async refill(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      const next = await this.chunks.next()
      if (next.done === true) return false
      this.chunk = next.value
      this.pos = 0
    }
    return true
  }

  private truncated(what: string): RepoSyncError {
    return new RepoSyncError(RepoSyncErrorCode.Truncated, `the CAR ends inside its ${what} (after ${this.offset} bytes)`, { bytes: this.offset })
  }
}

import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { DigestIndex } from './digest-index.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'

export interface BlockStoreOptions {
  /** Block bytes kept in memory at most; the blocks after them go to the spill file. */
  memoryBytes: number
  /** Where the spill file is made (it is unlinked at once: nothing is left behind, even by a kill -9). */
  spillDir: string
}

/** A block's place, packed in one number: offset * 2^22 + length; negative (-1 - place) in memory, positive in the spill file. */
const LENGTH_BITS = 2 ** 22
/** The largest block a packed place can hold. */
export const MAX_STORED_BLOCK_BYTES = LENGTH_BITS - 1
/** The largest spill file (and memory arena) a packed place can address: 2^31 * 2^22 = 2^53. */
export const MAX_SPILL_BYTES = 2 ** 31
/** Memory is taken in slabs of this size (or the budget, if smaller): one allocation per MiB, not one per block. */
const SLAB_BYTES = 1024 * 1024
/** Spilled blocks are gathered into writes of this size. */
const WRITE_BATCH_BYTES = 1024 * 1024

/**
 * The blocks of one CAR while its tree is walked, by CID: the first `memoryBytes` of block data
 * copied into memory slabs, the rest appended to a temporary file. Memory is that budget plus
 * the index (digest-index.ts: 32 to 64 bytes a block). Blocks are found by their SHA-256 digest:
 * the CAR reader takes only atproto CIDs (v1, sha2-256), and two CIDs with one digest name the
 * same bytes. A block seen twice is stored once. Throws RepoSyncError SPILL when the file cannot
 * be written or read.
 */
export class BlockStore {
  private readonly index = new DigestIndex()
  private readonly slabs: Uint8Array[] = []
  private readonly slabBytes: number
  /** Bytes of the last slab in use. */
  private slabUsed = 0
  private memoryUsed = 0
  private file: FileHandle | null = null
  /** Bytes given a place in the file (written, being written, or in the batch). */
  private spilled = 0
  /** Spilled blocks gathered for one write; reused, once the write of its previous contents is done. */
  private batch: Buffer | null = null
  private batchUsed = 0
  /** Where the batch goes in the file. */
  private batchStart = 0
  /** The writes so far, in order: a read waits for them. */
  private writes: Promise<void> = Promise.resolve()
  private closed = false

  constructor(private readonly options: BlockStoreOptions) {
    this.slabBytes = Math.min(SLAB_BYTES, options.memoryBytes)
  }

  get size(): number {
    return this.index.size
  }

  /** Block bytes held in memory. */
  get memoryBytes(): number {
    return this.memoryUsed
  }

  /** What the store takes in memory: its slabs, its index and its write batch. */
  get heldBytes(): number {
    return this.slabs.length * this.slabBytes + this.index.byteLength + (this.batch?.byteLength ?? 0)
  }

  get spilledBytes(): number {
    return this.spilled
  }

  get isClosed(): boolean {
    return this.closed
  }

  has(cid: Uint8Array): boolean {
    return isAtprotoCid(cid) && this.index.get(cid, DIGEST_AT) !== undefined
  }

  /** Stores a copy of `data` (the caller's view may be into a network chunk that is reused). */
  async put(cid: Uint8Array, data: Uint8Array): Promise<void> {
    if (!isAtprotoCid(cid)) throw new RangeError('the store takes atproto CIDs only (v1, sha2-256)')
    if (this.index.get(cid, DIGEST_AT) !== undefined) return
    if (data.byteLength > MAX_STORED_BLOCK_BYTES) throw new RepoSyncError(RepoSyncErrorCode.Spill, `a ${data.byteLength}-byte block is over the store's ${MAX_STORED_BLOCK_BYTES}-byte limit`, { bytes: data.byteLength })
    const inMemory = this.keepInMemory(data)
    if (inMemory !== null) {
      this.index.add(cid, DIGEST_AT, -1 - inMemory)
      return
    }
    if (this.spilled + data.byteLength > MAX_SPILL_BYTES) throw new RepoSyncError(RepoSyncErrorCode.Spill, `the spill file cannot grow past ${MAX_SPILL_BYTES} bytes`, { bytes: this.spilled })
    await this.writes // the batch may still be being written
    if (this.batchUsed + data.byteLength > WRITE_BATCH_BYTES) await this.flush()
    this.index.add(cid, DIGEST_AT, this.spilled * LENGTH_BITS + data.byteLength)
    if (data.byteLength > WRITE_BATCH_BYTES) {
      this.queueWrite(Buffer.from(data), this.spilled)
      this.spilled += data.byteLength
      return this.writes
    }
    if (this.batchUsed === 0) this.batchStart = this.spilled
    this.batch ??= Buffer.allocUnsafe(WRITE_BATCH_BYTES)
    this.batch.set(data, this.batchUsed)
    this.batchUsed += data.byteLength
    this.spilled += data.byteLength
    if (this.batchUsed === WRITE_BATCH_BYTES) await this.flush()
  }

  /** The block's bytes (a view into the store for a block in memory), or undefined when the CAR did not carry it. */
  async get(cid: Uint8Array): Promise<Uint8Array | undefined> {
    const place = isAtprotoCid(cid) ? this.index.get(cid, DIGEST_AT) : undefined
    if (place === undefined) return undefined
    if (place < 0) {
      const { offset, length } = unpack(-1 - place)
      const slab = this.slabs[Math.floor(offset / this.slabBytes)]!
      const at = offset % this.slabBytes
      return slab.subarray(at, at + length)
    }
    const { offset, length } = unpack(place)
    await this.flush()
    const out = Buffer.allocUnsafe(length)
    try {
      const { bytesRead } = await this.file!.read(out, 0, length, offset)
      if (bytesRead !== length) throw new Error(`read ${bytesRead} of ${length} bytes at ${offset}`)
    } catch (err) {
      throw this.spillError('read', err)
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  }

  /** Drops every block and deletes the spill file; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.index.clear()
    this.slabs.length = 0
    this.batch = null
    await this.writes.catch(() => {})
    const file = this.file
    this.file = null
    await file?.close().catch(() => {})
  }

  /** Copies the block into a slab if the budget allows; its arena offset, or null (spill it). */
  private keepInMemory(data: Uint8Array): number | null {
    if (data.byteLength > this.slabBytes) return null
    if (this.slabs.length === 0 || this.slabUsed + data.byteLength > this.slabBytes) {
      if ((this.slabs.length + 1) * this.slabBytes > this.options.memoryBytes) return null
      this.slabs.push(new Uint8Array(this.slabBytes))
      this.slabUsed = 0
    }
    const offset = (this.slabs.length - 1) * this.slabBytes + this.slabUsed
    this.slabs[this.slabs.length - 1]!.set(data, this.slabUsed)
    this.slabUsed += data.byteLength
    this.memoryUsed += data.byteLength
    return offset * LENGTH_BITS + data.byteLength
  }

  /** Writes what the batch holds; resolves when every write so far is done (the batch is free again). */
  private flush(): Promise<void> {
    if (this.batch !== null && this.batchUsed > 0) {
      this.queueWrite(this.batch.subarray(0, this.batchUsed), this.batchStart)
      this.batchUsed = 0
    }
    return this.writes
  }

  /** Writes `bytes` at `offset` after the writes before it. */
  private queueWrite(bytes: Uint8Array, offset: number): void {
    this.writes = this.writes.then(async () => {
      try {
        this.file ??= await openUnlinked(this.options.spillDir)
        await this.file.write(bytes, 0, bytes.byteLength, offset)
      } catch (err) {
        throw this.spillError('write', err)
      }
    })
  }

  private spillError(what: 'read' | 'write', err: unknown): RepoSyncError {
    return new RepoSyncError(RepoSyncErrorCode.Spill, `cannot ${what} the spill file in ${this.options.spillDir}: ${(err as Error).message}`, { spillDir: this.options.spillDir }, { cause: err })
  }
}

/** Where the digest starts in an atproto CID: after version, codec, hash code and length. */
const DIGEST_AT = 4

/** A CIDv1, dag-cbor or raw, sha2-256: the only blocks a repo has (the CAR reader refuses others). */
function isAtprotoCid(cid: Uint8Array): boolean {
  return cid.byteLength === 36 && cid[0] === 1 && (cid[1] === 0x71 || cid[1] === 0x55) && cid[2] === 0x12 && cid[3] === 0x20
}

function unpack(place: number): { offset: number; length: number } {
  return { offset: Math.floor(place / LENGTH_BITS), length: place % LENGTH_BITS }
}

/** A new file open for reading and writing whose name is already gone: the data lives until the handle closes. */
async function openUnlinked(dir: string): Promise<FileHandle> {
  const folder = await mkdtemp(join(dir, 'repo-sync-'))
  try {
    return await open(join(folder, 'blocks'), 'w+')
  } finally {
    await rm(folder, { recursive: true, force: true })
  }
}

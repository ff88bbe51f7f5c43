import { open, type FileHandle } from 'node:fs/promises'
import { crc32 } from 'node:zlib'
import { compressionFor, createCompressor, type Compressor } from './compression.js'
import { FixtureError, FixtureErrorCode, ioError } from '../protocol/fixture/errors.js'
import { FileSink } from './file-sink.js'
import {
  FORMAT_VERSION,
  FRAME_TIME_BYTES,
  MAX_FRAME_BYTES,
  RECORD_HEAD_BYTES,
  RECORD_TRAILER_BYTES,
  RecordKind,
  jsonRecord,
  preamble,
  writeRecordHead,
  writeTimeUs,
  type FixtureFrame,
  type FixtureGap,
  type FixtureHeader,
  type FixtureManifest,
} from '../protocol/fixture/format.js'
import { ManifestBuilder } from '../protocol/fixture/manifest-builder.js'

export interface FixtureWriterOptions {
  source?: string | null
  meta?: Record<string, unknown>
  /** Header createdAt (default now); a fixed value lets a generator write the same bytes every run. */
  createdAt?: string
  /** write() returns false once this many bytes wait in memory (default 4 MiB). */
  highWaterMarkBytes?: number
  /** Compression level (gzip 1-9, zstd 1-19); default is the library's. Live capture wants speed (1). */
  compressionLevel?: number
}

const DEFAULT_HIGH_WATER_MARK = 4 * 1024 * 1024
/** Headroom past the high-water mark for frames already in flight when the caller pauses its source. */
const HARD_CAP_HEADROOM = 64 * 1024 * 1024
/** Records are packed into arenas of this size before they go to the compressor (fewer, larger writes). */
const ARENA_BYTES = 64 * 1024

/**
 * Streams frames into a fixture file in constant memory.
 *
 * Memory bound and overflow policy: bytes accepted but not yet in the OS (packed records,
 * compressor buffers, the file queue) are counted; write() returns false at the high-water mark
 * and the caller awaits drain(). A caller that keeps writing past high-water mark + 64 MiB gets
 * FIXTURE_MISUSE: frames are never dropped silently.
 */
export class FixtureWriter {
  private arena = Buffer.allocUnsafe(ARENA_BYTES)
  private arenaUsed = 0
  private lastStaged: Promise<void> = Promise.resolve()
  private failure: Error | null = null
  private closing: Promise<FixtureManifest> | null = null
  private readonly manifest: ManifestBuilder
  private readonly highWaterMark: number

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    private readonly sink: FileSink,
    private readonly compressor: Compressor | null,
    readonly header: FixtureHeader,
    options: FixtureWriterOptions,
  ) {
    this.manifest = new ManifestBuilder(header.source, header.meta)
    this.highWaterMark = options.highWaterMarkBytes ?? DEFAULT_HIGH_WATER_MARK
    if (compressor) {
      compressor.stream.on('readable', () => this.pullCompressed())
      compressor.stream.on('error', (err) => {
        this.failure ??= new FixtureError(FixtureErrorCode.Io, `${path}: compression failed: ${err.message}`, { path }, { cause: err })
      })
    }
  }

  /** Creates (or overwrites) the file and writes its header; the header is in the OS when this resolves. */
  static async create(path: string, options: FixtureWriterOptions = {}): Promise<FixtureWriter> {
    const compressor = createCompressor(compressionFor(path), path, options.compressionLevel)
    let file: FileHandle
    try {
      file = await open(path, 'w')
    } catch (err) {
      throw ioError(path, 'open', err)
    }
    const header: FixtureHeader = { formatVersion: FORMAT_VERSION, source: options.source ?? null, createdAt: options.createdAt ?? new Date().toISOString() }
    if (options.meta !== undefined) header.meta = options.meta
    const writer = new FixtureWriter(path, file, new FileSink(file, path), compressor, header, options)
    try {
      writer.stage(Buffer.concat([preamble(), jsonRecord(RecordKind.Header, header)]))
      await writer.flush()
    } catch (err) {
      await file.close().catch(() => undefined)
      throw err
    }
    return writer
  }

  get frameCount(): number {
    return this.manifest.frames
  }

  /** Bytes of the file in the OS so far (compressed size; lags buffered data until flush/close). */
  get bytesWritten(): number {
    return this.sink.bytesWritten
  }

  /** Bytes accepted but not yet handed to the OS. */
  get bufferedBytes(): number {
    const stream = this.compressor?.stream
    return this.arenaUsed + (stream ? stream.writableLength + stream.readableLength : 0) + this.sink.queuedBytes
  }

  /** Buffers one frame. Returns false when the buffer is at its high-water mark: await drain() before writing more. */
  write(frame: FixtureFrame): boolean {
    this.assertWritable()
    const { timeUs, bytes } = frame
    if (!Number.isSafeInteger(timeUs) || timeUs < 0) {
      throw new FixtureError(FixtureErrorCode.Misuse, `frame timeUs must be a non-negative safe integer, got ${timeUs}`, { timeUs })
    }
    if (!(bytes instanceof Uint8Array) || bytes.length > MAX_FRAME_BYTES) {
      throw new FixtureError(FixtureErrorCode.Misuse, `frame bytes must be a Uint8Array of at most ${MAX_FRAME_BYTES} bytes`, {
        size: bytes?.length,
      })
    }
    if (this.bufferedBytes > this.highWaterMark + HARD_CAP_HEADROOM) {
      throw new FixtureError(FixtureErrorCode.Misuse, `${this.path}: ${this.bufferedBytes} bytes buffered; the caller ignored write() === false`, {
        path: this.path,
        bufferedBytes: this.bufferedBytes,
      })
    }
    const payloadBytes = FRAME_TIME_BYTES + bytes.length
    const at = this.reserve(RECORD_HEAD_BYTES + payloadBytes + RECORD_TRAILER_BYTES)
    const payloadAt = at + RECORD_HEAD_BYTES
    writeRecordHead(this.arena, at, RecordKind.Frame, payloadBytes)
    writeTimeUs(this.arena, payloadAt, timeUs)
    this.arena.set(bytes, payloadAt + FRAME_TIME_BYTES)
    this.arena.writeUInt32LE(crc32(this.arena.subarray(payloadAt, payloadAt + payloadBytes)), payloadAt + payloadBytes)
    this.manifest.addFrame(timeUs, bytes)
    if (this.arenaUsed >= ARENA_BYTES) this.stageArena()
    return this.bufferedBytes < this.highWaterMark
  }

  /** Records a gap the recorder knows of (e.g. a reconnect that skipped seqs), in order with the frames. */
  addGap(gap: FixtureGap): void {
    this.assertWritable()
    if (!Number.isSafeInteger(gap.afterSeq) || !Number.isSafeInteger(gap.beforeSeq)) {
      throw new FixtureError(FixtureErrorCode.Misuse, 'gap afterSeq and beforeSeq must be safe integers', { ...gap })
    }
    const clean: FixtureGap = { afterSeq: gap.afterSeq, beforeSeq: gap.beforeSeq }
    if (gap.note !== undefined) clean.note = gap.note
    this.append(jsonRecord(RecordKind.Gap, clean))
    this.manifest.addGap(clean)
  }

  /** Resolves once the buffer is below its high-water mark. */
  async drain(): Promise<void> {
    if (this.bufferedBytes < this.highWaterMark) return
    this.stageArena()
    await this.settle()
  }

  /** After this resolves, a kill -9 of the process keeps every frame written so far (sync flush, data in the OS). */
  async flush(): Promise<void> {
    this.assertWritable()
    this.stageArena()
    const compressor = this.compressor
    if (compressor) {
      await new Promise<void>((resolve) => compressor.stream.flush(compressor.flushKind, () => resolve()))
      this.pullCompressed()
    }
    await this.settle()
  }

  /** Writes the manifest, ends the compression, fsyncs and closes. Idempotent. */
  close(): Promise<FixtureManifest> {
    this.closing ??= this.finish()
    return this.closing
  }

  /** Stops without a manifest and closes the file: it reads as cut off mid-write (truncated). */
  async abort(): Promise<void> {
    if (this.closing) return
    this.closing = Promise.reject(new FixtureError(FixtureErrorCode.Misuse, `${this.path}: writer was aborted`, { path: this.path }))
    this.closing.catch(() => undefined)
    this.compressor?.stream.destroy()
    await this.sink.idle().catch(() => undefined)
    await this.file.close().catch(() => undefined)
  }

  private async finish(): Promise<FixtureManifest> {
    try {
      if (this.failure) throw this.failure
      const manifest = this.manifest.build(true)
      this.append(jsonRecord(RecordKind.Manifest, manifest))
      this.stageArena()
      const stream = this.compressor?.stream
      if (stream) {
        const ended = new Promise<void>((resolve, reject) => {
          stream.once('end', resolve)
          stream.once('error', reject)
        })
        stream.end()
        await ended.catch(() => undefined)
      }
      await this.settle()
      await this.sink.sync()
      return manifest
    } finally {
      await this.file.close().catch(() => undefined)
    }
  }

  private assertWritable(): void {
    this.failure ??= this.sink.failed
    if (this.failure) throw this.failure
    if (this.closing) throw new FixtureError(FixtureErrorCode.Misuse, `${this.path}: writer is closed`, { path: this.path })
  }

  /** Copies a whole record into the arena. */
  private append(record: Buffer): void {
    // reserve() may stage the current arena and start a new one: take the offset before reading
    // this.arena, or the record lands in the arena already handed on (it overwrote staged frames).
    const at = this.reserve(record.length)
    record.copy(this.arena, at)
  }

  /** Offset in the arena for a record of `size` bytes, moving to a new arena when it does not fit. */
  private reserve(size: number): number {
    if (this.arenaUsed + size > this.arena.length) {
      this.stageArena()
      if (size > this.arena.length) this.arena = Buffer.allocUnsafe(size)
    }
    const at = this.arenaUsed
    this.arenaUsed += size
    return at
  }

  /** Hands the packed records on and starts a fresh arena (the old one now belongs to the stream). */
  private stageArena(): void {
    if (this.arenaUsed === 0) return
    const chunk = this.arena.subarray(0, this.arenaUsed)
    this.arena = Buffer.allocUnsafe(ARENA_BYTES)
    this.arenaUsed = 0
    this.stage(chunk)
  }

  private stage(chunk: Buffer): void {
    const stream = this.compressor?.stream
    if (!stream) {
      this.sink.write(chunk)
      return
    }
    this.lastStaged = new Promise((resolve) => stream.write(chunk, () => resolve()))
  }

  private pullCompressed(): void {
    const stream = this.compressor!.stream
    let chunk: Buffer | null
    while ((chunk = stream.read() as Buffer | null) !== null) this.sink.write(chunk)
  }

  /** Waits until the compressor consumed everything staged and the file queue is empty. */
  private async settle(): Promise<void> {
    await this.lastStaged
    if (this.compressor) this.pullCompressed()
    await this.sink.idle()
    if (this.failure) throw this.failure
  }
}

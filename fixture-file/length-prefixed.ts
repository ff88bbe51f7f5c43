import { createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ByteQueue } from '../protocol/fixture/byte-queue.js'
import { compressionFor, createCompressor } from './compression.js'
import { readContent } from './content.js'
import { FixtureError, corruptAt, ioError } from '../protocol/fixture/errors.js'
import { MAX_FRAME_BYTES, type FixtureManifest } from '../protocol/fixture/format.js'
import { openFixture } from './reader.js'
import { FixtureWriter } from './writer.js'

/**
 * The plain form other tools use: each frame as [u32 LE length][frame bytes], nothing else
 * (no header, no times). Compression by extension, as for fixtures.
 */

const LENGTH_BYTES = 4

/** Streams the frames of a length-prefixed file. A zero or oversized length, or a cut-off frame, is FIXTURE_CORRUPT at its offset. */
export async function* readLengthPrefixed(path: string): AsyncGenerator<Uint8Array> {
  const queue = new ByteQueue()
  let pending: { offset: number; length: number } | null = null
  for await (const chunk of readContent(path)) {
    queue.push(chunk)
    for (;;) {
      if (pending === null) {
        if (queue.length < LENGTH_BYTES) break
        const offset = queue.offset
        const length = queue.take(LENGTH_BYTES).readUInt32LE(0)
        if (length === 0 || length > MAX_FRAME_BYTES) throw corruptAt(path, offset, `frame length ${length} outside 1..${MAX_FRAME_BYTES}`, { length })
        pending = { offset, length }
      }
      if (queue.length < pending.length) break
      const frame = queue.take(pending.length)
      pending = null
      yield frame
    }
  }
  if (pending !== null || queue.length > 0) {
    throw corruptAt(path, pending?.offset ?? queue.offset, 'file ends inside a frame', { truncated: true })
  }
}

export interface ExportResult {
  frames: number
  /** The fixture was cut off mid-write: every complete frame was exported. */
  truncated: boolean
}

/** Writes every frame of a fixture as [u32 LE length][bytes] (times are dropped). */
export async function exportLengthPrefixed(fixturePath: string, outPath: string): Promise<ExportResult> {
  const compressor = createCompressor(compressionFor(outPath), outPath)
  const reader = await openFixture(fixturePath)
  let frames = 0
  async function* encoded(): AsyncGenerator<Buffer> {
    for await (const frame of reader.frames()) {
      const length = Buffer.allocUnsafe(LENGTH_BYTES)
      length.writeUInt32LE(frame.bytes.length, 0)
      frames++
      yield length
      yield Buffer.from(frame.bytes.buffer, frame.bytes.byteOffset, frame.bytes.byteLength)
    }
  }
  const out = createWriteStream(outPath)
  try {
    await (compressor ? pipeline(Readable.from(encoded()), compressor.stream, out) : pipeline(Readable.from(encoded()), out))
  } catch (err) {
    throw err instanceof FixtureError ? err : ioError(outPath, 'write', err)
  } finally {
    await reader.close()
  }
  return { frames, truncated: reader.truncated }
}

export interface ImportOptions {
  source?: string | null
  /** Receive time given to the first frame, µs since the epoch (default 0). */
  startTimeUs?: number
  /** Receive-time step between consecutive frames, µs (default 1000: 1,000 frames/s in replay's original mode). */
  intervalUs?: number
  meta?: Record<string, unknown>
}

/**
 * Builds a fixture from a length-prefixed file. Frames are kept byte-for-byte; seqs and types come
 * from the frames themselves (peekFrame). Receive times are synthesized deterministically:
 * frame i gets startTimeUs + i * intervalUs.
 */
export async function importLengthPrefixed(lpPath: string, outPath: string, options: ImportOptions = {}): Promise<FixtureManifest> {
  const startTimeUs = options.startTimeUs ?? 0
  const intervalUs = options.intervalUs ?? 1000
  const frames = readLengthPrefixed(lpPath)
  // Open the input first, so a missing or unreadable input leaves no output file behind.
  const first = await frames.next()
  const writer = await FixtureWriter.create(outPath, {
    source: options.source ?? null,
    meta: { ...options.meta, importedFrom: 'length-prefixed', timeSynthesis: { startTimeUs, intervalUs } },
  })
  try {
    let index = 0
    for (let next = first; !next.done; next = await frames.next()) {
      if (!writer.write({ timeUs: startTimeUs + index * intervalUs, bytes: next.value })) await writer.drain()
      index++
    }
  } catch (err) {
    // A half-imported fixture would look like a crash-truncated recording: remove it.
    await writer.abort()
    await rm(outPath, { force: true })
    throw err
  } finally {
    await frames.return(undefined)
  }
  return writer.close()
}

import { readContent } from './content.js'
import { FixtureError, FixtureErrorCode, corruptAt } from '../protocol/fixture/errors.js'
import { FRAME_TIME_BYTES, RecordKind, readTimeUs, type FixtureFrame, type FixtureGap, type FixtureHeader, type FixtureManifest } from '../protocol/fixture/format.js'
import { ManifestBuilder } from '../protocol/fixture/manifest-builder.js'
import { parseRecords, type ContentEnd, type RawRecord } from '../protocol/fixture/record-parser.js'

export interface FixtureReader {
  readonly path: string
  readonly header: FixtureHeader
  /** Streams the frames in constant memory; stops cleanly at a truncated tail. Iterate once. */
  frames(): AsyncIterableIterator<FixtureFrame>
  /** After frames() finished: the stored manifest, or one rebuilt from the frames read when the file was cut off. */
  manifest(): FixtureManifest | null
  /** True once frames() finished on a file without its manifest (cut off mid-write). */
  readonly truncated: boolean
  close(): Promise<void>
}

/** Opens a fixture and reads its header. FIXTURE_NOT_FOUND, FIXTURE_CORRUPT (offset), FIXTURE_UNSUPPORTED, FIXTURE_BAD_VERSION. */
export async function openFixture(path: string): Promise<FixtureReader> {
  const reader = new FileFixtureReader(path)
  await reader.readHeader()
  return reader
}

/** Reads a whole fixture and returns its manifest (rebuilt, complete: false, when the file was cut off). */
export async function scanFixture(path: string): Promise<FixtureManifest> {
  const reader = await openFixture(path)
  try {
    for await (const _frame of reader.frames()) {
      // The manifest is built while the frames pass.
    }
    return reader.manifest()!
  } finally {
    await reader.close()
  }
}

/** Every frame's bytes, in order, held in memory: for benches and tests over small fixtures (streaming: openFixture). */
export async function readFixtureFrames(path: string): Promise<Uint8Array[]> {
  const reader = await openFixture(path)
  const frames: Uint8Array[] = []
  try {
    for await (const frame of reader.frames()) frames.push(frame.bytes)
  } finally {
    await reader.close()
  }
  return frames
}

class FileFixtureReader implements FixtureReader {
  header!: FixtureHeader
  truncated = false
  private readonly records: AsyncGenerator<RawRecord, ContentEnd>
  private stored: FixtureManifest | null = null
  private rebuilt: ManifestBuilder | null = null
  private finished = false
  private started = false

  constructor(readonly path: string) {
    this.records = parseRecords(readContent(path), path)
  }

  async readHeader(): Promise<void> {
    try {
      const first = await this.records.next()
      if (first.done) {
        throw corruptAt(this.path, first.value.endOffset, 'file ends before its header is complete', { truncated: true })
      }
      this.header = parseHeader(first.value, this.path)
      this.rebuilt = new ManifestBuilder(this.header.source, this.header.meta)
    } catch (err) {
      await this.close()
      throw err
    }
  }

  frames(): AsyncIterableIterator<FixtureFrame> {
    if (this.started) throw new FixtureError(FixtureErrorCode.Misuse, `${this.path}: frames() can be iterated once; open the fixture again`)
    this.started = true
    return this.iterate()
  }

  manifest(): FixtureManifest | null {
    if (!this.finished) return null
    return this.stored ?? this.rebuilt!.build(false)
  }

  /** Ends the record stream, which closes the file (also done when frames() ends or is left early). */
  async close(): Promise<void> {
    await this.records.return({ truncated: true, endOffset: 0 }).catch(() => undefined)
  }

  private async *iterate(): AsyncGenerator<FixtureFrame> {
    const rebuilt = this.rebuilt!
    try {
      for (;;) {
        const next = await this.records.next()
        if (next.done) {
          this.truncated = next.value.truncated
          break
        }
        const record = next.value
        switch (record.kind) {
          case RecordKind.Frame: {
            const timeUs = readTimeUs(record.payload, 0)
            if (Number.isNaN(timeUs)) throw corruptAt(this.path, record.offset, 'frame receive time is not a safe integer')
            const frame = { timeUs, bytes: record.payload.subarray(FRAME_TIME_BYTES) }
            rebuilt.addFrame(frame.timeUs, frame.bytes)
            yield frame
            break
          }
          case RecordKind.Gap:
            rebuilt.addGap(parseJson<FixtureGap>(record, this.path))
            break
          case RecordKind.Manifest:
            this.stored = checkManifest(parseJson<FixtureManifest>(record, this.path), rebuilt.frames, record.offset, this.path)
            break
        }
      }
      this.finished = true
    } finally {
      await this.close()
    }
  }
}

function parseJson<T>(record: RawRecord, path: string): T {
  try {
    const value: unknown = JSON.parse(record.payload.toString('utf8'))
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object')
    return value as T
  } catch (err) {
    throw corruptAt(path, record.offset, `record is not valid JSON: ${(err as Error).message}`, { kind: record.kind }, err)
  }
}

function parseHeader(record: RawRecord, path: string): FixtureHeader {
  const header = parseJson<Partial<FixtureHeader>>(record, path)
  if (header.formatVersion !== 1 || typeof header.createdAt !== 'string' || !(header.source === null || typeof header.source === 'string')) {
    throw corruptAt(path, record.offset, 'header record lacks formatVersion 1, createdAt or source')
  }
  return header as FixtureHeader
}

function checkManifest(manifest: FixtureManifest, framesRead: number, offset: number, path: string): FixtureManifest {
  if (manifest.frameCount !== framesRead) {
    throw corruptAt(path, offset, `manifest counts ${manifest.frameCount} frames but the file holds ${framesRead}`, {
      manifestFrames: manifest.frameCount,
      framesRead,
    })
  }
  return manifest
}

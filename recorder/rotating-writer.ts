import { FixtureWriter, FRAME_RECORD_OVERHEAD_BYTES, type FixtureFrame, type FixtureManifest } from '../fixture-file/index.js'

export interface RotatingWriterOptions {
  out: string
  /** Start a new file once the current one holds this many bytes on disk; null = one file. */
  rotateBytes: number | null
  source: string | null
  meta?: Record<string, unknown>
  compressionLevel?: number
}

/**
 * `NAME.gz` with index 3 -> `NAME.003.gz`: the number goes before the compression extension
 * (`.gz`, `.zst`), or at the end when there is none, so every part keeps its compression and the
 * parts sort in recording order.
 */
export function rotatedPath(out: string, index: number): string {
  const ext = /\.(gz|zst)$/.exec(out)?.[0] ?? ''
  return `${out.slice(0, out.length - ext.length)}.${String(index).padStart(3, '0')}${ext}`
}

/**
 * One FixtureWriter at a time; with rotation, each part is a complete fixture file. write() and
 * addGap() go to the current part; checkRotation(), flush() and close() are serialised so a flush never
 * races a part being closed.
 */
export class RotatingWriter {
  private writer: FixtureWriter
  private index: number
  private readonly manifests: FixtureManifest[] = []
  private readonly paths: string[]
  private serial: Promise<unknown> = Promise.resolve()
  private finishedBytes = 0
  private finishedFrames = 0
  private closed = false
  /** Frame bytes handed to the current part since its size was last measured. */
  private sinceCheck = 0
  /** Measure again after this many more bytes: the part cannot reach the limit sooner (compression only shrinks). */
  private checkAfter: number

  private constructor(
    private readonly options: RotatingWriterOptions,
    writer: FixtureWriter,
    path: string,
  ) {
    this.writer = writer
    this.index = 0
    this.paths = [path]
    this.checkAfter = options.rotateBytes ?? Number.POSITIVE_INFINITY
  }

  static async open(options: RotatingWriterOptions): Promise<RotatingWriter> {
    const path = options.rotateBytes === null ? options.out : rotatedPath(options.out, 0)
    return new RotatingWriter(options, await RotatingWriter.create(options, path), path)
  }

  private static create(options: RotatingWriterOptions, path: string): Promise<FixtureWriter> {
    return FixtureWriter.create(path, {
      source: options.source,
      ...(options.meta !== undefined && { meta: options.meta }),
      ...(options.compressionLevel !== undefined && { compressionLevel: options.compressionLevel }),
    })
  }

  /** Every file written so far, in order. */
  get files(): readonly string[] {
    return this.paths
  }

  get frameCount(): number {
    return this.finishedFrames + (this.closed ? 0 : this.writer.frameCount)
  }

  /** Bytes on disk over all parts. */
  get bytesWritten(): number {
    return this.finishedBytes + (this.closed ? 0 : this.writer.bytesWritten)
  }

  /** True when the current part may have reached the rotation size; call checkRotation(). */
  get rotationCheckDue(): boolean {
    return this.sinceCheck >= this.checkAfter
  }

  write(frame: FixtureFrame): boolean {
    this.sinceCheck += frame.bytes.length + FRAME_RECORD_OVERHEAD_BYTES
    return this.writer.write(frame)
  }

  addGap(gap: { afterSeq: number; beforeSeq: number; note?: string }): void {
    this.writer.addGap(gap)
  }

  drain(): Promise<void> {
    return this.writer.drain()
  }

  /**
   * Measures the current part on disk (a flush pushes the compressor's buffered output out, so
   * the size is exact) and rotates when it reached the limit: closes it (finalised, with its
   * manifest) and opens the next. Returns whether it rotated. The byte budget until the next
   * measurement assumes no compression, so parts overshoot by less than one frame while
   * measurements stay logarithmic in the part size.
   */
  checkRotation(): Promise<boolean> {
    return this.serialise(async () => {
      const limit = this.options.rotateBytes
      if (limit === null || this.closed) return false
      await this.writer.flush()
      this.sinceCheck = 0
      const remaining = limit - this.writer.bytesWritten
      if (remaining > 0) {
        this.checkAfter = remaining
        return false
      }
      const done = this.writer
      this.manifests.push(await done.close())
      this.finishedBytes += done.bytesWritten
      this.finishedFrames += done.frameCount
      this.index++
      const path = rotatedPath(this.options.out, this.index)
      this.writer = await RotatingWriter.create(this.options, path)
      this.paths.push(path)
      this.checkAfter = limit
      return true
    })
  }

  flush(): Promise<void> {
    return this.serialise(async () => {
      if (!this.closed) await this.writer.flush()
    })
  }

  /** Finalises the current part; returns one manifest per part. */
  close(): Promise<FixtureManifest[]> {
    return this.serialise(async () => {
      if (this.closed) return this.manifests
      const last = this.writer
      this.manifests.push(await last.close())
      this.finishedBytes += last.bytesWritten
      this.finishedFrames += last.frameCount
      this.closed = true
      return this.manifests
    })
  }

  private serialise<T>(step: () => Promise<T>): Promise<T> {
    const next = this.serial.then(step)
    this.serial = next.catch(() => undefined)
    return next
  }
}

import { BoundedQueue } from '../common/bounded-queue.js'
import type { Logger } from '../common/logger.js'
import { openFixture } from '../fixture-file/index.js'
import { loopSpan, readSeq, withSeq } from './seq-field.js'
import type { FrameSource, SourceFrame } from './frame-source.js'

/** Read-ahead bound: the reader pauses when this many frames (or bytes) wait to be published, and reads on at half (common/bounded-queue.ts). */
const READ_AHEAD_FRAMES = 4096
const READ_AHEAD_BYTES = 32 * 1024 * 1024

/**
 * Streams the fixture files in order (again and again with --loop) into a bounded read-ahead
 * queue that the timeline drains synchronously. Constant memory whatever the file size.
 * On --loop, round r shifts every seq by r * (maxSeq - minSeq + 1) of the first pass, so seqs
 * keep increasing and cursors stay meaningful; only the seq value's bytes change (seq-field.ts).
 */
export class StreamingSource implements FrameSource {
  onReadable: (() => void) | null = null
  failure: Error | null = null

  private readonly queue = new BoundedQueue<SourceFrame>({ maxItems: READ_AHEAD_FRAMES, bytes: { max: READ_AHEAD_BYTES, sizeOf: (frame) => frame.bytes.byteLength } })
  private readerDone = false
  private minSeq = Number.POSITIVE_INFINITY
  private maxSeq = Number.NEGATIVE_INFINITY

  constructor(
    private readonly files: string[],
    private readonly loop: boolean,
    private readonly logger: Logger,
  ) {
    void this.run()
  }

  get done(): boolean {
    return this.readerDone && this.queue.size === 0
  }

  peek(): SourceFrame | undefined {
    return this.queue.peek()
  }

  take(): SourceFrame | undefined {
    return this.queue.shift()
  }

  /** Stops the reader: closing the queue wakes it if it waits for space. */
  close(): void {
    this.queue.close()
  }

  private async run(): Promise<void> {
    try {
      for (let round = 0; !this.queue.isClosed; round++) {
        const offset = round * loopSpan(this.minSeq, this.maxSeq)
        let frames = 0
        for (const file of this.files) {
          if (this.queue.isClosed) break
          frames += await this.readFile(file, round, offset)
        }
        if (!this.loop || frames === 0) break
        if (round === 0) this.logger.info({ minSeq: this.minSeq, maxSeq: this.maxSeq }, 'looping: later rounds shift seqs past the first pass')
      }
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err))
      this.logger.error({ err }, 'fixture read failed mid-stream; the timeline ends here')
    } finally {
      this.readerDone = true
      this.onReadable?.()
    }
  }

  private async readFile(file: string, round: number, offset: number): Promise<number> {
    const reader = await openFixture(file)
    let frames = 0
    try {
      for await (const frame of reader.frames()) {
        if (this.queue.isClosed) break
        let seq = readSeq(frame.bytes) // undefined for error frames and recorded garbage (replayed as recorded)
        let bytes: Uint8Array = frame.bytes.slice() // reader frames are views into a shared chunk
        if (seq !== undefined) {
          if (round === 0) {
            if (seq < this.minSeq) this.minSeq = seq
            if (seq > this.maxSeq) this.maxSeq = seq
          } else if (offset > 0) {
            seq += offset
            bytes = withSeq(bytes, seq)
          }
        }
        frames++
        this.push({ bytes, timeUs: frame.timeUs, seq, round })
        // Asked after push() ran onReadable, which may drain synchronously: wait only if still full.
        if (this.queue.isFull) await this.queue.whenBelowLowWater()
      }
    } finally {
      await reader.close()
    }
    return frames
  }

  private push(frame: SourceFrame): void {
    const wasEmpty = this.queue.size === 0
    this.queue.push(frame)
    if (wasEmpty) this.onReadable?.()
  }
}

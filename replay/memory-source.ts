import { loopSpan, withSeq } from './seq-field.js'
import type { FrameSource, SourceFrame } from './frame-source.js'

/**
 * Frames preloaded at start (source.ts loadFixtures), played from memory: no I/O while playing.
 * The window keeps references to these same arrays, so retaining them costs nothing extra.
 * --loop rounds after the first re-encode the seq (seq-field.ts) of each frame as it is taken.
 */
export class MemorySource implements FrameSource {
  onReadable: (() => void) | null = null
  readonly failure = null
  private index = 0
  private round = 0
  private current: SourceFrame | undefined
  private closed = false
  private readonly span: number

  constructor(
    private readonly frames: SourceFrame[],
    private readonly loop: boolean,
  ) {
    let min = Number.POSITIVE_INFINITY
    let max = Number.NEGATIVE_INFINITY
    for (const { seq } of frames) {
      if (seq === undefined) continue
      if (seq < min) min = seq
      if (seq > max) max = seq
    }
    this.span = loopSpan(min, max)
  }

  get done(): boolean {
    return this.closed || this.frames.length === 0 || (!this.loop && this.index >= this.frames.length)
  }

  peek(): SourceFrame | undefined {
    if (this.current !== undefined || this.done) return this.current
    if (this.index >= this.frames.length) {
      this.index = 0
      this.round++
    }
    const frame = this.frames[this.index]!
    if (this.round === 0) this.current = frame
    else {
      const seq = frame.seq === undefined ? undefined : frame.seq + this.round * this.span
      this.current = { bytes: seq === undefined ? frame.bytes : withSeq(frame.bytes, seq), timeUs: frame.timeUs, seq, round: this.round }
    }
    return this.current
  }

  take(): SourceFrame | undefined {
    const frame = this.peek()
    if (frame !== undefined) {
      this.current = undefined
      this.index++
    }
    return frame
  }

  close(): void {
    this.closed = true
  }
}

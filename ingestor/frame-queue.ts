import { BoundedQueue } from '../common/bounded-queue.js'

/** A raw frame waiting between the socket and the decoder. */
export interface QueuedFrame {
  bytes: Uint8Array
  /** From peekFrame; undefined when the frame has none or could not be peeked (decode decides). */
  seq: number | undefined
  receivedAtUs: number
}

/**
 * The bounded queue between the relay socket and Redis, counted in frames and bytes.
 * Overflow policy (docs/ingestor.md, common/bounded-queue.ts): it never drops. push() reports
 * `full` at the high-water mark and the owner pauses the socket; frames the socket had already
 * read still go in (a few socket chunks at most). The owner resumes reading once the queue drains
 * below the low-water mark (half of each bound), so the socket is not toggled on every frame.
 */
export class FrameQueue extends BoundedQueue<QueuedFrame> {
  constructor(maxFrames: number, maxBytes: number) {
    super({ maxItems: maxFrames, bytes: { max: maxBytes, sizeOf: (frame) => frame.bytes.byteLength } })
  }

  get frames(): number {
    return this.size
  }

  get maxFrames(): number {
    return this.maxItems
  }
}

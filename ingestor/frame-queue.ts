/** A raw frame waiting between the socket and the decoder. */
export interface QueuedFrame {
  bytes: Uint8Array
  /** From peekFrame; undefined when the frame has none or could not be peeked (decode decides). */
  seq: number | undefined
  receivedAtUs: number
}

/**
 * The bounded queue between the relay socket and Redis, counted in frames and bytes.
 * Overflow policy (docs/ingestor.md): it never drops. push() reports `full` at the high-water
 * mark and the owner pauses the socket; frames the socket had already read still go in (a few
 * socket chunks at most). The owner resumes reading once the queue drains below the low-water
 * mark (half of each bound), so the socket is not toggled on every frame.
 */
export class FrameQueue {
  private items: QueuedFrame[] = []
  private head = 0
  private byteCount = 0
  private waiter: (() => void) | null = null
  private closed = false

  constructor(
    readonly maxFrames: number,
    readonly maxBytes: number,
  ) {}

  get frames(): number {
    return this.items.length - this.head
  }

  get bytes(): number {
    return this.byteCount
  }

  get isFull(): boolean {
    return this.frames >= this.maxFrames || this.byteCount >= this.maxBytes
  }

  get isBelowLowWater(): boolean {
    return this.frames <= this.maxFrames / 2 && this.byteCount <= this.maxBytes / 2
  }

  /** Appends a frame; returns true when the queue is at or above its high-water mark. */
  push(frame: QueuedFrame): boolean {
    this.items.push(frame)
    this.byteCount += frame.bytes.byteLength
    this.wake()
    return this.isFull
  }

  /** Removes up to maxFrames frames / maxBytes bytes from the front (always at least one if any). */
  take(maxFrames: number, maxBytes: number): QueuedFrame[] {
    const out: QueuedFrame[] = []
    let bytes = 0
    while (this.head < this.items.length && out.length < maxFrames) {
      const next = this.items[this.head]!
      if (out.length > 0 && bytes + next.bytes.byteLength > maxBytes) break
      out.push(next)
      bytes += next.bytes.byteLength
      this.items[this.head++] = undefined as unknown as QueuedFrame // release the reference now
    }
    this.byteCount -= bytes
    this.compact()
    return out
  }

  /** Resolves when a frame is queued or the queue is closed. */
  whenReady(): Promise<void> {
    if (this.frames > 0 || this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      this.waiter = resolve
    })
  }

  /** Drops everything queued (the pipeline resynchronised to an older cursor); returns the frame count dropped. */
  clear(): number {
    const dropped = this.frames
    this.items = []
    this.head = 0
    this.byteCount = 0
    return dropped
  }

  /** No more pushes; waiters wake so the consumer can drain what is left and stop. */
  close(): void {
    this.closed = true
    this.wake()
  }

  get isClosed(): boolean {
    return this.closed
  }

  private wake(): void {
    const waiter = this.waiter
    this.waiter = null
    waiter?.()
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}

/** What one item weighs against the channel's bounds. */
export interface BatchWeight {
  frames: number
  bytes: number
}

/**
 * The bounded hand-off between the decode loop and the write loop, bounded in frames and bytes
 * (not in items), and drained whole: takeWaiting() hands the writer every item waiting, which
 * it writes as one script call. So the channel's bound is also the bound of one write, and
 * decoding overlaps the current Redis write by up to one full write. When it is full, put()
 * waits, the frame queue fills, and the relay socket is paused. An item heavier than the
 * bounds still enters an empty channel (alone), so it can never block forever.
 */
export class BatchChannel<T> {
  private items: T[] = []
  private frameCount = 0
  private byteCount = 0
  private readonly takers: ((items: T[] | null) => void)[] = []
  private readonly putters: (() => void)[] = []
  private closed = false

  constructor(
    readonly maxFrames: number,
    readonly maxBytes: number,
    private readonly weigh: (item: T) => BatchWeight,
  ) {}

  get size(): number {
    return this.items.length
  }

  /** Rejects once the channel is closed: nothing would ever take the item. */
  async put(item: T): Promise<void> {
    const weight = this.weigh(item)
    while (!this.closed && !this.fits(weight)) await new Promise<void>((resolve) => this.putters.push(resolve))
    if (this.closed) throw new Error('the channel is closed')
    const taker = this.takers.shift()
    if (taker) {
      taker([item])
      return
    }
    this.items.push(item)
    this.frameCount += weight.frames
    this.byteCount += weight.bytes
  }

  /** Every item waiting, oldest first (at least one), or null once closed and empty. */
  takeWaiting(): Promise<T[] | null> {
    if (this.items.length > 0) return Promise.resolve(this.removeAll())
    if (this.closed) return Promise.resolve(null)
    return new Promise((resolve) => this.takers.push(resolve))
  }

  /** Drops every waiting item (resync); returns them so the caller can count what was dropped. */
  clear(): T[] {
    return this.removeAll()
  }

  close(): void {
    this.closed = true
    for (const taker of this.takers.splice(0)) taker(null)
    this.wakePutters()
  }

  private fits(weight: BatchWeight): boolean {
    if (this.items.length === 0) return true
    return this.frameCount + weight.frames <= this.maxFrames && this.byteCount + weight.bytes <= this.maxBytes
  }

  private removeAll(): T[] {
    const taken = this.items
    this.items = []
    this.frameCount = 0
    this.byteCount = 0
    this.wakePutters()
    return taken
  }

  private wakePutters(): void {
    for (const putter of this.putters.splice(0)) putter()
  }
}

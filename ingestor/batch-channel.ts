/**
 * A tiny bounded hand-off between the decode loop and the write loop. Its bound (two batches)
 * lets decoding of the next batch overlap the current Redis write while keeping memory flat:
 * when it is full, put() waits, the frame queue fills, and the relay socket is paused.
 */
export class BatchChannel<T> {
  private readonly items: T[] = []
  private readonly takers: ((item: T | null) => void)[] = []
  private readonly putters: (() => void)[] = []
  private closed = false

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length
  }

  async put(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.closed) await new Promise<void>((resolve) => this.putters.push(resolve))
    const taker = this.takers.shift()
    if (taker) taker(item)
    else this.items.push(item)
  }

  /** The next item, or null once closed and empty. */
  take(): Promise<T | null> {
    const item = this.items.shift()
    if (item !== undefined) {
      this.putters.shift()?.()
      return Promise.resolve(item)
    }
    if (this.closed) return Promise.resolve(null)
    return new Promise((resolve) => this.takers.push(resolve))
  }

  /** Drops every waiting item (resync); returns them so the caller can count what was dropped. */
  clear(): T[] {
    const dropped = this.items.splice(0)
    for (const putter of this.putters.splice(0)) putter()
    return dropped
  }

  close(): void {
    this.closed = true
    for (const taker of this.takers.splice(0)) taker(null)
    for (const putter of this.putters.splice(0)) putter()
  }
}

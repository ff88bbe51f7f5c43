/** What a queue holds at most, and when a paused producer may go on. */
export interface QueueBounds<T> {
  /** Items at most (Infinity: bounded by bytes alone). */
  maxItems: number
  /** Bytes at most, each item weighed by `sizeOf`. */
  bytes?: { max: number; sizeOf: (item: T) => number }
  /** The fraction of each bound the queue must drain to before a paused producer goes on (default 1/2). */
  lowWater?: number
}

/** Past this many consumed slots (and half the array), the array is cut down so a long-lived queue does not grow. */
const COMPACT_AFTER = 1024

/**
 * A FIFO queue bounded in items and, optionally, bytes, with this overflow policy: it never
 * drops and never refuses. Each bound is a high-water mark: push() returns true once the queue
 * is at or above either one, and the producer must stop (pause its socket, or await
 * whenBelowLowWater()). What the producer already had in hand still goes in, so the overshoot
 * is bounded by the producer (for a socket, what ws had already read). The producer goes on
 * once the queue is down to the low-water mark under every bound, so a socket is not toggled
 * on every item.
 */
export class BoundedQueue<T extends object> {
  readonly maxItems: number
  readonly maxBytes: number
  private readonly sizeOf: (item: T) => number
  private readonly lowWater: number
  // A consumed prefix plus a head index: shift() is O(1) without copying the array each time.
  private items: (T | undefined)[] = []
  private head = 0
  private byteCount = 0
  private closed = false
  private readyWaiters: (() => void)[] = []
  private spaceWaiters: (() => void)[] = []

  constructor(bounds: QueueBounds<T>) {
    this.maxItems = bounds.maxItems
    this.maxBytes = bounds.bytes?.max ?? Number.POSITIVE_INFINITY
    this.sizeOf = bounds.bytes?.sizeOf ?? (() => 0)
    this.lowWater = bounds.lowWater ?? 0.5
    // Every buffer has a bound: a queue bounded by nothing is a caller's mistake.
    if (!(this.maxItems > 0 && this.maxBytes > 0) || (this.maxItems === Number.POSITIVE_INFINITY && this.maxBytes === Number.POSITIVE_INFINITY)) {
      throw new RangeError(`a bounded queue needs a positive bound in items or bytes (got ${this.maxItems} items, ${this.maxBytes} bytes)`)
    }
    if (!(this.lowWater >= 0 && this.lowWater < 1)) throw new RangeError(`low water is a fraction of the bounds in [0, 1) (got ${this.lowWater})`)
  }

  get size(): number {
    return this.items.length - this.head
  }

  get bytes(): number {
    return this.byteCount
  }

  get isFull(): boolean {
    return this.size >= this.maxItems || this.byteCount >= this.maxBytes
  }

  get isBelowLowWater(): boolean {
    return this.size <= this.maxItems * this.lowWater && this.byteCount <= this.maxBytes * this.lowWater
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Appends an item, always; returns true when the queue is at or above a bound (the producer must stop). */
  push(item: T): boolean {
    this.items.push(item)
    this.byteCount += this.sizeOf(item)
    wakeAll(this.readyWaiters)
    return this.isFull
  }

  peek(): T | undefined {
    return this.items[this.head]
  }

  shift(): T | undefined {
    const item = this.items[this.head]
    if (item === undefined) return undefined
    this.items[this.head++] = undefined // release the item now, not at the next compaction
    this.byteCount -= this.sizeOf(item)
    this.afterRemoval()
    return item
  }

  /** Removes up to maxItems items / maxBytes bytes from the front: always one at least, so an item above maxBytes cannot stall the consumer. */
  take(maxItems: number, maxBytes = Number.POSITIVE_INFINITY): T[] {
    const out: T[] = []
    let bytes = 0
    while (out.length < maxItems) {
      const next = this.items[this.head]
      if (next === undefined) break
      const size = this.sizeOf(next)
      if (out.length > 0 && bytes + size > maxBytes) break
      out.push(next)
      bytes += size
      this.items[this.head++] = undefined
    }
    this.byteCount -= bytes
    this.afterRemoval()
    return out
  }

  /** Drops everything queued (the consumer resynchronised elsewhere); returns how many items were dropped. */
  clear(): number {
    const dropped = this.size
    this.items = []
    this.head = 0
    this.byteCount = 0
    wakeAll(this.spaceWaiters)
    return dropped
  }

  /** No more items will come: the consumer drains what is left; every waiter wakes. */
  close(): void {
    this.closed = true
    wakeAll(this.readyWaiters)
    wakeAll(this.spaceWaiters)
  }

  /** Resolves when an item is queued or the queue is closed. */
  whenReady(): Promise<void> {
    if (this.size > 0 || this.closed) return Promise.resolve()
    return new Promise((resolve) => this.readyWaiters.push(resolve))
  }

  /** Resolves when the queue is down to the low-water mark or closed: the producer's awaitable space signal. */
  whenBelowLowWater(): Promise<void> {
    if (this.isBelowLowWater || this.closed) return Promise.resolve()
    return new Promise((resolve) => this.spaceWaiters.push(resolve))
  }

  private afterRemoval(): void {
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    if (this.spaceWaiters.length > 0 && this.isBelowLowWater) wakeAll(this.spaceWaiters)
  }
}

function wakeAll(waiters: (() => void)[]): void {
  for (const wake of waiters.splice(0)) wake()
}

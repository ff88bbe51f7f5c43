/**
 * At most `size` requests at once; more wait their turn, first come first served. The waiters
 * are bounded by the caller: the resolver sends one request per DID (concurrent lookups share it),
 * so at most the DIDs of the batches in flight wait here.
 */
export class RequestSlots {
  private active = 0
  private readonly waiting: (() => void)[] = []

  constructor(private readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`slots must be a positive integer (got ${size})`)
  }

  /** Runs `request` in a slot. */
  async run<T>(request: () => Promise<T>): Promise<T> {
    while (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.active++
    try {
      return await request()
    } finally {
      this.active--
      this.waiting.shift()?.()
    }
  }
}

/**
 * The retained window: a ring buffer of the last `capacity` published frames (and at most
 * `maxBytes` of them), addressed by a global publish index. It is also every client's outbox:
 * a client is just an index into it, so N clients cost N integers, not N copies.
 *
 * Overflow policy: the oldest frame is evicted. A client whose next frame was evicted can no
 * longer be served in order and is closed with ConsumerTooSlow (see client-session.ts).
 */
export class RetainedWindow {
  private readonly frames: (Uint8Array | undefined)[]
  /** The frame's own seq, NaN when it has none (error frames, undecodable frames). */
  private readonly seqs: Float64Array
  /** Running maximum of seqs up to this frame: non-decreasing, so cursors can binary-search it. */
  private readonly keys: Float64Array
  private head = 0
  private oldest = 0
  private retainedBytes = 0
  private maxKey = -1
  private evictedKey = -1

  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`window capacity must be a positive integer, got ${capacity}`)
    this.frames = new Array<Uint8Array | undefined>(capacity)
    this.seqs = new Float64Array(capacity)
    this.keys = new Float64Array(capacity)
  }

  /** Index the next published frame will get; frames [oldestIndex, headIndex) are retained. */
  get headIndex(): number {
    return this.head
  }

  get oldestIndex(): number {
    return this.oldest
  }

  get bytes(): number {
    return this.retainedBytes
  }

  get size(): number {
    return this.head - this.oldest
  }

  /** Highest seq ever published, null before the first one. */
  get headSeq(): number | null {
    return this.maxKey < 0 ? null : this.maxKey
  }

  /** Highest seq ever evicted: cursors below it have lost frames. */
  get evictedSeq(): number | null {
    return this.evictedKey < 0 ? null : this.evictedKey
  }

  get oldestSeq(): number | null {
    for (let i = this.oldest; i < this.head; i++) {
      const seq = this.seqAt(i)
      if (seq !== undefined) return seq
    }
    return null
  }

  push(bytes: Uint8Array, seq: number | undefined): number {
    while (this.head - this.oldest >= this.capacity || (this.head > this.oldest && this.retainedBytes + bytes.byteLength > this.maxBytes)) this.evict()
    const index = this.head++
    const slot = index % this.capacity
    this.frames[slot] = bytes
    this.seqs[slot] = seq ?? Number.NaN
    if (seq !== undefined && seq > this.maxKey) this.maxKey = seq
    this.keys[slot] = this.maxKey
    this.retainedBytes += bytes.byteLength
    return index
  }

  bytesAt(index: number): Uint8Array {
    if (index < this.oldest || index >= this.head) throw new RangeError(`frame ${index} is not retained (${this.oldest}..${this.head - 1})`)
    return this.frames[index % this.capacity]!
  }

  seqAt(index: number): number | undefined {
    const seq = this.seqs[index % this.capacity]!
    return Number.isNaN(seq) ? undefined : seq
  }

  /**
   * Index of the first retained frame whose seq is above `cursor` (headIndex when none):
   * frames after it go out in recorded order, including any seq regressions the recording has.
   */
  firstIndexAfter(cursor: number): number {
    let lo = this.oldest
    let hi = this.head
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2)
      if (this.keys[mid % this.capacity]! > cursor) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  private evict(): void {
    const slot = this.oldest % this.capacity
    this.retainedBytes -= this.frames[slot]!.byteLength
    this.frames[slot] = undefined
    this.evictedKey = this.keys[slot]!
    this.oldest++
  }
}

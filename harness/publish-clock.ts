import type { ReplayHandle } from '../replay/index.js'

/** How often the replay head is read: its timeline publishes every 5 ms. */
const POLL_MS = 2
/** Head advances remembered (2^17 x 2 ms: at least ~4 minutes of history; 2 MiB). */
const CAPACITY = 1 << 17

/**
 * When each seq was sent. The replay server runs in this process; every 2 ms the clock reads
 * its head seq and, when it moved, notes (head, time of the previous read): every seq up to
 * that head went out after that time, so a lag computed from it errs high by at most the poll
 * period plus event-loop delay, never low. A bounded ring: seqs older than it are unknown.
 */
export class PublishClock {
  private readonly heads = new Float64Array(CAPACITY)
  private readonly times = new Float64Array(CAPACITY)
  private start = 0
  private size = 0
  /** Seqs at or below this were published before the clock started or fell out of the ring. */
  private floorSeq: number
  private lastHead: number
  private lastPollMs = Date.now()
  private readonly timer: NodeJS.Timeout

  constructor(private readonly replay: ReplayHandle) {
    this.floorSeq = this.lastHead = replay.status().headSeq ?? Number.NEGATIVE_INFINITY
    this.timer = setInterval(() => this.poll(), POLL_MS)
  }

  /** Highest seq published so far (as of the last read). */
  get headSeq(): number | null {
    return Number.isFinite(this.lastHead) ? this.lastHead : null
  }

  /** Reads the head now (also called before a lookup of a seq newer than the last read). */
  poll(): void {
    const now = Date.now()
    const head = this.replay.status().headSeq
    if (head !== null && head > this.lastHead) {
      if (this.size === CAPACITY) {
        this.floorSeq = this.heads[this.start]!
        this.start = (this.start + 1) % CAPACITY
        this.size--
      }
      const at = (this.start + this.size) % CAPACITY
      this.heads[at] = head
      this.times[at] = this.lastPollMs
      this.size++
      this.lastHead = head
    }
    this.lastPollMs = now
  }

  /** Epoch ms at or before which `seq` was sent; null when unknown (too old, or never published). */
  sentAt(seq: number): number | null {
    if (seq > this.lastHead) this.poll()
    if (seq <= this.floorSeq || seq > this.lastHead) return null
    // First remembered head >= seq: the ring is sorted by head.
    let low = 0
    let high = this.size - 1
    while (low < high) {
      const mid = (low + high) >> 1
      if (this.heads[(this.start + mid) % CAPACITY]! >= seq) high = mid
      else low = mid + 1
    }
    return this.times[(this.start + low) % CAPACITY]!
  }

  stop(): void {
    clearInterval(this.timer)
  }
}

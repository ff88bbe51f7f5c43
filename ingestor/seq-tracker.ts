export type SeqVerdict =
  /** Next in order (or the first frame after a reset): publish. */
  | 'next'
  /** Higher than expected: publish, count the gap (gaps are legal upstream). */
  | 'jump'
  /** At or below the position we already have (stored, or written before a reconnect): skip silently. */
  | 'known'
  /** Lower than a seq seen on this connection: skip, count, warn. */
  | 'backwards'
  /** The same seq twice on this connection: skip, count, warn. */
  | 'repeat'

/**
 * Decides, per frame and in socket order, whether a seq is new. `high` is the highest seq
 * accepted into the pipeline; it is also the cursor we reconnect from, because every accepted
 * frame will be written (or the pipeline resynchronises and resets this tracker).
 */
export class SeqTracker {
  /** Seqs at or below this were delivered before the current connection (or are in Redis). */
  private floor: number | null = null
  private high: number | null = null

  /** After a (re)start or resync: the position Redis holds; null = none (accept anything). */
  reset(cursor: number | null): void {
    this.floor = cursor
    this.high = cursor
  }

  /** A new connection: whatever it resends up to `high` is already ours, not a relay fault. */
  newConnection(): void {
    this.floor = this.high
  }

  get position(): number | null {
    return this.high
  }

  /** The verdict `classify(seq)` would give, without accepting anything. */
  verdict(seq: number): SeqVerdict {
    if (this.floor !== null && seq <= this.floor) return 'known'
    if (this.high !== null && seq < this.high) return 'backwards'
    if (this.high !== null && seq === this.high) return 'repeat'
    return this.high !== null && seq > this.high + 1 ? 'jump' : 'next'
  }

  /** The verdict; a new seq ('next', 'jump') becomes the position. */
  classify(seq: number): SeqVerdict {
    const verdict = this.verdict(seq)
    if (verdict === 'next' || verdict === 'jump') this.high = seq
    return verdict
  }

  /**
   * Whether a new seq would set a position no earlier seq vouches for: a jump ahead, or the first
   * seq with no position at all. Such a seq is only trusted from a frame that decodes (I15).
   */
  wouldLeap(seq: number): boolean {
    const verdict = this.verdict(seq)
    return verdict === 'jump' || (verdict === 'next' && this.high === null)
  }
}

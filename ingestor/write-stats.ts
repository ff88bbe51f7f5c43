import type { QueuedFrame } from './frame-queue.js'
import { addTally } from './write-plan.js'

/**
 * What the status, /ready and /metrics say about writes: lags, the last acknowledgement, what
 * was written by type, what was dead-lettered by code. Fed by the pipeline as frames are queued
 * and writes acknowledged; every map is keyed by a fixed set (event types, error codes).
 */
export class WriteStats {
  private lastEventTimeMs: number | null = null
  /** When Redis last acknowledged a write (epoch ms); /ready compares it with pendingSinceUs. */
  private lastAckAtMs: number | null = null
  /** Receive-to-acknowledge time of the last frame written. */
  private lastWriteLagMs: number | null = null
  /** Receive time of the oldest frame not yet written (the last written one's while a backlog drains); null when none waits. */
  private pendingSinceUs: number | null = null
  private lastEnqueued: QueuedFrame | null = null
  private readonly writtenByType = new Map<string, { events: number; bytes: number }>()
  private readonly deadLettersByCode = new Map<string, number>()

  constructor(private readonly now: () => number = Date.now) {}

  noteEnqueued(frame: QueuedFrame): void {
    this.lastEnqueued = frame
    this.pendingSinceUs ??= frame.receivedAtUs
  }

  /** Frames up to `last` need no more work: nothing waits unless frames arrived after it. */
  noteWritten(last: QueuedFrame): void {
    this.pendingSinceUs = last === this.lastEnqueued ? null : last.receivedAtUs
  }

  /** Every frame not yet written was dropped (a resync): they are received again; until then nothing waits. */
  noteDropped(): void {
    this.pendingSinceUs = null
    this.lastEnqueued = null
  }

  /** Redis acknowledged a write whose last frame is `last`. */
  acknowledge(write: { lastTimeMs: number | null; lastFrame: QueuedFrame; byType: ReadonlyMap<string, { events: number; bytes: number }> }): void {
    if (write.lastTimeMs !== null) this.lastEventTimeMs = write.lastTimeMs
    for (const [type, { events, bytes }] of write.byType) addTally(this.writtenByType, type, events, bytes)
    this.lastAckAtMs = this.now()
    this.lastWriteLagMs = Math.max(0, this.lastAckAtMs - write.lastFrame.receivedAtUs / 1000)
    this.noteWritten(write.lastFrame)
  }

  noteDeadLetter(code: string): void {
    this.deadLettersByCode.set(code, (this.deadLettersByCode.get(code) ?? 0) + 1)
  }

  /** now - `time` of the last written event; meaningless for replayed fixtures, whose times are old. */
  get eventLagMs(): number | null {
    return this.lastEventTimeMs === null ? null : this.now() - this.lastEventTimeMs
  }

  /**
   * How far writes trail receipt: while frames wait, now - receive time of the oldest waiting
   * frame (after a write, the receive time of its last frame); when none waits, the receive-to-ack
   * time of the last frame written. Unlike event-time lag this is right for replayed fixtures too.
   */
  get receiveLagMs(): number | null {
    if (this.pendingSinceUs !== null) return Math.max(0, this.now() - this.pendingSinceUs / 1000)
    return this.lastWriteLagMs
  }

  get lastAckAt(): number | null {
    return this.lastAckAtMs
  }

  get pendingSinceMs(): number | null {
    return this.pendingSinceUs === null ? null : Math.floor(this.pendingSinceUs / 1000)
  }

  get writtenTypes(): Record<string, { events: number; bytes: number }> {
    return Object.fromEntries([...this.writtenByType].map(([type, tally]) => [type, { ...tally }]))
  }

  get deadLetterCodes(): Record<string, number> {
    return Object.fromEntries(this.deadLettersByCode)
  }
}

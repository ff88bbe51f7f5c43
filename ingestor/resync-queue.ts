import { EncodedEntry } from './encoded-entry.js'
import type { HeldEvent } from './repo-plan.js'

export interface ResyncQueueBounds {
  /** Repos waiting for a resync at most (default 100,000). */
  maxPending: number
  /** Events held for resyncing repos at most, all repos together (default 100,000). */
  maxHeld: number
  /** Bytes of their entries' JSON at most, all repos together (default 64 MiB). */
  maxHeldBytes: number
}

export const DEFAULT_RESYNC_QUEUE: ResyncQueueBounds = { maxPending: 100_000, maxHeld: 100_000, maxHeldBytes: 64 * 1024 * 1024 }

/** What an event costs besides its JSON (the facts, the object): a rough constant, so a flood of tiny events is bounded too. */
const EVENT_OVERHEAD_BYTES = 256

/** A repo's held events, and whether some were dropped at the bound (then its snapshot cannot be the end: it resyncs again). */
interface Holding {
  events: HeldEvent[]
  overflowed: boolean
  bytes: number
}

/**
 * Between the write path and the resync worker: the repos that need a resync, and the events held
 * while a repo resyncs. Both bounded, with these overflow policies (nothing dropped silently):
 * - Pending repos past `maxPending` are not queued; their desynchronized state is in Redis, and
 *   `needsSweep` tells the worker to find them there (an HSCAN of the state hashes) once the
 *   queue has room.
 * - Held events past `maxHeld` or `maxHeldBytes` (all repos together): the repo the next event is for has its held
 *   events dropped (counted) and is marked overflowed; after its snapshot it is desynchronized
 *   again instead of releasing them, so a second snapshot, fetched after them, covers them.
 */
export class ResyncQueue {
  private readonly pending = new Set<string>()
  private readonly holding = new Map<string, Holding>()
  private heldCount = 0
  private heldByteCount = 0
  private sweep = false
  private waiters: (() => void)[] = []
  private roomWaiters: (() => void)[] = []

  constructor(private readonly bounds: ResyncQueueBounds = DEFAULT_RESYNC_QUEUE) {}

  get pendingCount(): number {
    return this.pending.size
  }

  get heldEvents(): number {
    return this.heldCount
  }

  get heldBytes(): number {
    return this.heldByteCount
  }

  /** A sweep of Redis is owed: some repos did not fit the pending bound (or a restart left some desynchronized). */
  get needsSweep(): boolean {
    return this.sweep
  }

  requestSweep(): void {
    this.sweep = true
    this.wake()
  }

  sweepDone(): void {
    this.sweep = false
  }

  /** Resolves once at most half of `maxPending` repos wait (a sweep feeds the queue no faster than it drains). */
  whenRoom(): Promise<void> {
    if (this.pending.size <= this.bounds.maxPending / 2) return Promise.resolve()
    return new Promise((resolve) => this.roomWaiters.push(resolve))
  }

  /** Asks for a resync of `did` (a repeated ask is one). False when it did not fit: a sweep will find it. */
  request(did: string): boolean {
    if (this.pending.has(did)) return true
    if (this.pending.size >= this.bounds.maxPending) {
      this.sweep = true
      return false
    }
    this.pending.add(did)
    this.wake()
    return true
  }

  /** The oldest pending repo, taken off the queue; null when none. */
  take(): string | null {
    const first = this.pending.values().next()
    if (first.done === true) return null
    this.pending.delete(first.value)
    if (this.pending.size <= this.bounds.maxPending / 2) for (const waiter of this.roomWaiters.splice(0)) waiter()
    return first.value
  }

  /** Resolves when a repo is pending (at once if one is). */
  whenWork(): Promise<void> {
    if (this.pending.size > 0) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Resolves when a sweep is owed (at once if one is). */
  whenSweep(): Promise<void> {
    if (this.sweep) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Wakes every waiter (work arrived, or stopping). */
  wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter()
    for (const waiter of this.roomWaiters.splice(0)) waiter()
  }

  /**
   * Keeps an event of a resyncing repo, its entry copied out of the decoded batch's buffer (a view
   * would keep the whole batch alive). Returns how many held events were dropped to stay in bound
   * (0, or that repo's, this one included).
   */
  hold(event: HeldEvent): number {
    const holding = this.holding.get(event.did) ?? { events: [], overflowed: false, bytes: 0 }
    this.holding.set(event.did, holding)
    if (holding.overflowed) return 1
    const bytes = EVENT_OVERHEAD_BYTES + (event.entry === null ? 0 : Buffer.byteLength(event.entry instanceof EncodedEntry ? event.entry.dataBytes : event.entry.data))
    if (this.heldCount >= this.bounds.maxHeld || this.heldByteCount + bytes > this.bounds.maxHeldBytes) {
      const dropped = holding.events.length + 1
      this.heldCount -= holding.events.length
      this.heldByteCount -= holding.bytes
      holding.events = []
      holding.bytes = 0
      holding.overflowed = true
      return dropped
    }
    const entry = event.entry instanceof EncodedEntry ? new EncodedEntry(event.entry.type, event.entry.seq, Buffer.from(event.entry.dataBytes)) : event.entry
    holding.events.push({ ...event, entry })
    holding.bytes += bytes
    this.heldCount++
    this.heldByteCount += bytes
    return 0
  }

  /** The repo's held events, in arrival order, and whether some were dropped; the repo holds nothing after. */
  release(did: string): Holding {
    const holding = this.holding.get(did) ?? { events: [], overflowed: false, bytes: 0 }
    this.holding.delete(did)
    this.heldCount -= holding.events.length
    this.heldByteCount -= holding.bytes
    return holding
  }
}

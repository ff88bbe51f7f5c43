import { EncodedEntry } from './encoded-entry.js'
import type { HeldEvent } from './repo-plan.js'

export interface ResyncQueueBounds {
  /** Repos waiting for a resync at most (default 100,000). */
  maxPending: number
  /** Events held for resyncing repos at most, all repos together (default 100,000). */
  maxHeld: number
  /** Bytes of their entries' JSON at most, all repos together (default 64 MiB). */
  maxHeldBytes: number
  /** Events spilled to Redis past the memory bounds, at most, all repos together (default 1,000,000). */
  maxSpilled: number
  /** Bytes of them at most (default 512 MiB of Redis memory). */
  maxSpilledBytes: number
}

export const DEFAULT_RESYNC_QUEUE: ResyncQueueBounds = { maxPending: 100_000, maxHeld: 100_000, maxHeldBytes: 64 * 1024 * 1024, maxSpilled: 1_000_000, maxSpilledBytes: 512 * 1024 * 1024 }

/** Where one held event went: kept in memory, to be written (in the same write as its batch) as a field of the snapshot progress hash, or dropped. */
export type Placement = { to: 'memory' } | { to: 'spill'; field: string; value: string } | { to: 'dropped'; count: number }

/** The field of `<stream>:snapshots` that holds a repo's n-th spilled event: after the DID's own (progress) field, never a DID. */
export function spillField(did: string, n: number): string {
  return `${did}#held#${String(n).padStart(10, '0')}`
}

/** Whether `field` is one of the repo's spilled fields. */
export function isSpillFieldOf(did: string, field: string): boolean {
  return field.startsWith(`${did}#held#`)
}

/** Every spilled field of a repo (HSCAN MATCH): what a run that died left. */
export function spillPattern(did: string): string {
  return `${did.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}#held#*`
}

/** What an event costs besides its JSON (the facts, the object): a rough constant, so a flood of tiny events is bounded too. */
const EVENT_OVERHEAD_BYTES = 256

/** A repo's held events, and whether some were dropped at the bound (then its snapshot cannot be the end: it resyncs again). */
interface Holding {
  events: HeldEvent[]
  overflowed: boolean
  bytes: number
  /** The fields its spilled events were written to, in order; all later than `events`. */
  spilled: string[]
  spilledBytes: number
}

/**
 * Between the write path and the resync worker: the repos that need a resync, and the events held
 * while a repo resyncs. Both bounded, with these overflow policies (nothing dropped silently):
 * - Pending repos past `maxPending` are not queued; their desynchronized state is in Redis, and
 *   `needsSweep` tells the worker to find them there (an HSCAN of the state hashes) once the
 *   queue has room.
 * - Held events past `maxHeld` or `maxHeldBytes` (all repos together) are spilled to Redis: the
 *   write that holds them sets them as fields of the shard's `<stream>:snapshots` hash
 *   (spillField), and the resync's last write reads them, decides them with the ones in memory
 *   and deletes them. Once a repo spills, its later events spill too, so its order is memory
 *   then spill. Past `maxSpilled` or `maxSpilledBytes` as well, the repo the next event is for
 *   has its held events dropped (counted) and is marked overflowed; after its snapshot it is
 *   desynchronized again instead of releasing them, so a second snapshot, fetched after them,
 *   covers them.
 */
export class ResyncQueue {
  private readonly pending = new Set<string>()
  private readonly holding = new Map<string, Holding>()
  private heldCount = 0
  private heldByteCount = 0
  private spilledCount = 0
  private spilledByteCount = 0
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

  /** Events spilled to Redis now, all repos together. */
  get spilledEvents(): number {
    return this.spilledCount
  }

  /** The fields a repo's events were spilled to, in order. */
  spilledFields(did: string): readonly string[] {
    return this.holding.get(did)?.spilled ?? []
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
   * Places an event of a resyncing repo: in memory (its entry copied out of the decoded batch's
   * buffer: a view would keep the whole batch alive), spilled (the caller writes the field in the
   * same write as the event's batch), or dropped with that repo's other held events.
   */
  hold(event: HeldEvent): Placement {
    const holding = this.holding.get(event.did) ?? { events: [], overflowed: false, bytes: 0, spilled: [], spilledBytes: 0 }
    this.holding.set(event.did, holding)
    if (holding.overflowed) return { to: 'dropped', count: 1 }
    const entry = event.entry instanceof EncodedEntry ? new EncodedEntry(event.entry.type, event.entry.seq, Buffer.from(event.entry.dataBytes)) : event.entry
    const bytes = EVENT_OVERHEAD_BYTES + (entry === null ? 0 : Buffer.byteLength(entry instanceof EncodedEntry ? entry.dataBytes : entry.data))
    if (holding.spilled.length === 0 && this.heldCount < this.bounds.maxHeld && this.heldByteCount + bytes <= this.bounds.maxHeldBytes) {
      holding.events.push({ ...event, entry })
      holding.bytes += bytes
      this.heldCount++
      this.heldByteCount += bytes
      return { to: 'memory' }
    }
    if (this.spilledCount < this.bounds.maxSpilled && this.spilledByteCount + bytes <= this.bounds.maxSpilledBytes) {
      const field = spillField(event.did, holding.spilled.length)
      holding.spilled.push(field)
      holding.spilledBytes += bytes
      this.spilledCount++
      this.spilledByteCount += bytes
      return { to: 'spill', field, value: encodeSpilled({ ...event, entry }) }
    }
    const count = holding.events.length + holding.spilled.length + 1
    this.forget(holding)
    holding.overflowed = true
    return { to: 'dropped', count }
  }

  /** The repo's held events, in arrival order, and whether some were dropped; the repo holds nothing after. */
  release(did: string): Holding {
    const holding = this.holding.get(did) ?? { events: [], overflowed: false, bytes: 0, spilled: [], spilledBytes: 0 }
    this.holding.delete(did)
    const released = { ...holding, events: [...holding.events], spilled: [...holding.spilled] }
    this.forget(holding)
    return released
  }

  private forget(holding: Holding): void {
    this.heldCount -= holding.events.length
    this.heldByteCount -= holding.bytes
    this.spilledCount -= holding.spilled.length
    this.spilledByteCount -= holding.spilledBytes
    holding.events = []
    holding.bytes = 0
    holding.spilled = []
    holding.spilledBytes = 0
  }
}

/** A spilled event as its field's value (JSON). */
export function encodeSpilled(event: HeldEvent): string {
  const entry = event.entry === null ? null : { type: event.entry.type, seq: event.entry.seq, data: event.entry.data }
  return JSON.stringify({ did: event.did, seq: event.seq, facts: event.facts, entry })
}

/** A spilled field's value back as the event; null for a value this code did not write (it is dropped: the repo resyncs again). */
export function decodeSpilled(value: string): HeldEvent | null {
  try {
    const parsed = JSON.parse(value) as HeldEvent
    if (typeof parsed.did !== 'string' || typeof parsed.seq !== 'number' || typeof parsed.facts !== 'object' || parsed.facts === null) return null
    return parsed
  } catch {
    return null
  }
}

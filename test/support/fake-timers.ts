import type { TimerHandle, Timers } from '../../common/timers.js'

interface PendingTimer {
  dueMs: number
  callback: () => void
}

/**
 * Timers whose time only moves when a test calls advance(): the timers of whatever takes a
 * `Timers` (RelayClient's backoff and liveness, TcpProxy's latency and bandwidth, the replay
 * timeline's pacing) become exact and instant, while the sockets stay real.
 */
export class FakeTimers implements Timers {
  private nowMs: number
  private nextId = 1
  /** By id; ids grow, so among timers due at the same time the older one fires first. */
  private readonly pending = new Map<number, PendingTimer>()

  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.nowMs = startMs
  }

  now(): number {
    return this.nowMs
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++
    this.pending.set(id, { dueMs: this.nowMs + Math.max(0, ms), callback })
    return id
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.pending.delete(handle)
  }

  /** Timers scheduled and neither fired nor cleared. */
  get pendingCount(): number {
    return this.pending.size
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including ones the
   * callbacks schedule) in due order, each with now() at its due time.
   */
  advance(ms: number): void {
    const endMs = this.nowMs + ms
    for (;;) {
      const next = this.nextDue(endMs)
      if (next === null) break
      this.pending.delete(next.id)
      this.nowMs = next.timer.dueMs
      next.timer.callback()
    }
    this.nowMs = endMs
  }

  private nextDue(endMs: number): { id: number; timer: PendingTimer } | null {
    let next: { id: number; timer: PendingTimer } | null = null
    for (const [id, timer] of this.pending) {
      if (timer.dueMs <= endMs && (next === null || timer.dueMs < next.timer.dueMs)) next = { id, timer }
    }
    return next
  }
}

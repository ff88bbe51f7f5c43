import { BoundedQueue } from '../common/bounded-queue.js'
import type { TimerHandle, Timers } from '../common/timers.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'

export interface FetchLimitsOptions {
  /** Requests at once, all hosts together (default 8). */
  maxConcurrent?: number
  /** Requests at once to one host (default 2): a PDS serves many accounts, a #sync storm must not flood it. */
  maxPerHost?: number
  /** Requests waiting for a slot, all hosts together (default 10,000); one more is refused with QUEUE_FULL. */
  maxWaiting?: number
  /** How long a 429 without a usable RateLimit-Reset or Retry-After pauses its host (default 60 s). */
  defaultPauseMs?: number
  /** The longest pause a host's headers can impose (default 1 h): a hostile reset time does not park a host for a year. */
  maxPauseMs?: number
}

export const DEFAULT_FETCH_LIMITS = { maxConcurrent: 8, maxPerHost: 2, maxWaiting: 10_000, defaultPauseMs: 60_000, maxPauseMs: 3_600_000 } as const

/** A request's permission to run; release it once, when its exchange is over (body read or dropped). */
export interface FetchSlot {
  readonly host: string
  release(): void
}

interface Waiter {
  host: string
  resolve: (slot: FetchSlot) => void
  reject: (err: unknown) => void
  /** Granted, or given up (its signal aborted): skipped when its turn comes. */
  done: boolean
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

interface HostState {
  active: number
  waiters: BoundedQueue<Waiter>
  /** Epoch ms before which nothing is sent to the host (a 429, or a spent RateLimit budget). */
  pausedUntil: number
  pauseTimer: TimerHandle | null
}

/**
 * The limits every repo-sync request goes through (getRepo and DID documents): at most
 * `maxConcurrent` at once, at most `maxPerHost` to one host, none to a host while it is paused
 * by its 429 (pauseHost). A request over a limit waits its turn: FIFO per host, hosts served
 * round-robin, so one busy PDS does not starve the others.
 *
 * Overflow policy: at most `maxWaiting` requests wait; acquire() refuses the next one at once
 * with REPO_SYNC_QUEUE_FULL (nothing is dropped silently: the caller keeps the repo
 * desynchronized and asks again later). Host state is kept only while a host has requests
 * running or waiting, or a pause that has not run out, so it is bounded by those.
 */
export class FetchLimiter {
  readonly maxConcurrent: number
  readonly maxPerHost: number
  readonly maxWaiting: number
  readonly defaultPauseMs: number
  readonly maxPauseMs: number
  private readonly hosts = new Map<string, HostState>()
  private running = 0
  private waitingCount = 0

  constructor(
    options: FetchLimitsOptions,
    private readonly timers: Timers,
  ) {
    this.maxConcurrent = options.maxConcurrent ?? DEFAULT_FETCH_LIMITS.maxConcurrent
    this.maxPerHost = options.maxPerHost ?? DEFAULT_FETCH_LIMITS.maxPerHost
    this.maxWaiting = options.maxWaiting ?? DEFAULT_FETCH_LIMITS.maxWaiting
    this.defaultPauseMs = options.defaultPauseMs ?? DEFAULT_FETCH_LIMITS.defaultPauseMs
    this.maxPauseMs = options.maxPauseMs ?? DEFAULT_FETCH_LIMITS.maxPauseMs
    for (const [name, value] of Object.entries({ maxConcurrent: this.maxConcurrent, maxPerHost: this.maxPerHost, maxWaiting: this.maxWaiting })) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer (got ${value})`)
    }
    if (!(this.defaultPauseMs >= 0 && this.maxPauseMs >= this.defaultPauseMs)) throw new RangeError(`pauses: defaultPauseMs ${this.defaultPauseMs}, maxPauseMs ${this.maxPauseMs}`)
  }

  /** Requests running now. */
  get active(): number {
    return this.running
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.waitingCount
  }

  /** Hosts with state (running, waiting or paused). */
  get trackedHosts(): number {
    return this.hosts.size
  }

  /** The slot to send one request to `host` (host[:port]); waits its turn, or throws QUEUE_FULL or ABORTED. */
  acquire(host: string, signal?: AbortSignal): Promise<FetchSlot> {
    if (signal?.aborted === true) return Promise.reject(aborted(host))
    const state = this.stateOf(host)
    if (firstWaiting(state) === undefined && this.canStart(state)) return Promise.resolve(this.start(host, state))
    if (this.waitingCount >= this.maxWaiting) {
      this.prune(host, state)
      return Promise.reject(new RepoSyncError(RepoSyncErrorCode.QueueFull, `${this.waitingCount} fetches already wait for a slot (maxWaiting); ask again later`, { host }))
    }
    return new Promise<FetchSlot>((resolve, reject) => {
      const waiter: Waiter = { host, resolve, reject, done: false, signal, onAbort: undefined }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          if (waiter.done) return
          waiter.done = true
          this.waitingCount--
          reject(aborted(host))
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      state.waiters.push(waiter)
      this.waitingCount++
    })
  }

  /**
   * Sends nothing more to `host` until `untilMs` (a 429's reset time), bounded by maxPauseMs
   * from now; a pause is only ever extended. Returns the time the host is paused until.
   */
  pauseHost(host: string, untilMs: number | null): number {
    const now = this.timers.now()
    const until = Math.min(untilMs ?? now + this.defaultPauseMs, now + this.maxPauseMs)
    const state = this.stateOf(host)
    if (until <= state.pausedUntil) return state.pausedUntil
    state.pausedUntil = until
    if (state.pauseTimer !== null) this.timers.clearTimeout(state.pauseTimer)
    this.armPauseEnd(host, state, until - now)
    this.prune(host, state)
    return until
  }

  /**
   * Serves the host's waiters when its pause is over. A timer may fire before now() reaches the
   * end (Node starts it from the event loop's cached time, which lags the clock on a busy
   * process): then it waits out the rest, or the waiters would wait until some other request ended.
   */
  private armPauseEnd(host: string, state: HostState, ms: number): void {
    state.pauseTimer = this.timers.setTimeout(
      () => {
        state.pauseTimer = null
        const left = state.pausedUntil - this.timers.now()
        if (left > 0) return this.armPauseEnd(host, state, left)
        this.dispatch()
        this.prune(host, state)
      },
      Math.max(0, ms),
    )
  }

  /** Epoch ms until which `host` is paused, or null when it is not. */
  pausedUntil(host: string): number | null {
    const until = this.hosts.get(host)?.pausedUntil ?? 0
    return until > this.timers.now() ? until : null
  }

  private stateOf(host: string): HostState {
    let state = this.hosts.get(host)
    if (state === undefined) {
      state = { active: 0, waiters: new BoundedQueue<Waiter>({ maxItems: this.maxWaiting }), pausedUntil: 0, pauseTimer: null }
      this.hosts.set(host, state)
    }
    return state
  }

  private canStart(state: HostState): boolean {
    return this.running < this.maxConcurrent && state.active < this.maxPerHost && state.pausedUntil <= this.timers.now()
  }

  private start(host: string, state: HostState): FetchSlot {
    this.running++
    state.active++
    let released = false
    return {
      host,
      release: () => {
        if (released) return
        released = true
        this.running--
        state.active--
        this.dispatch()
        this.prune(host, state)
      },
    }
  }

  /** Grants slots to waiters while the limits allow, one host at a time in turn (a host served moves to the back). */
  private dispatch(): void {
    for (let granted = true; granted && this.running < this.maxConcurrent;) {
      granted = false
      for (const [host, state] of [...this.hosts]) {
        if (this.running >= this.maxConcurrent) break
        if (!this.canStart(state)) continue
        const waiter = firstWaiting(state)
        if (waiter === undefined) continue
        state.waiters.shift()
        waiter.done = true
        this.waitingCount--
        if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener('abort', waiter.onAbort)
        waiter.resolve(this.start(host, state))
        this.hosts.delete(host)
        this.hosts.set(host, state)
        granted = true
      }
    }
  }

  /** Forgets a host with nothing running, nothing waiting and no pause left. */
  private prune(host: string, state: HostState): void {
    if (state.active === 0 && firstWaiting(state) === undefined && state.pauseTimer === null && this.hosts.get(host) === state) this.hosts.delete(host)
  }
}

/** The first waiter of the host still waiting, left in place (aborted ones before it are dropped). */
function firstWaiting(state: HostState): Waiter | undefined {
  for (let waiter = state.waiters.peek(); waiter !== undefined; waiter = state.waiters.peek()) {
    if (!waiter.done) return waiter
    state.waiters.shift()
  }
  return undefined
}

function aborted(host: string): RepoSyncError {
  return new RepoSyncError(RepoSyncErrorCode.Aborted, `fetch from ${host} aborted before it started`, { host })
}

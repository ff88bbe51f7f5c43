import { exponentialDelayMs } from '../common/backoff.js'
import { LruCache } from '../common/lru-cache.js'
import { SeededRandom } from '../common/random.js'
import type { Timers } from '../common/timers.js'

export interface RepoBackoffOptions {
  /** Ceiling of the wait after a repo's first failure (default 5 s). */
  initialMs?: number
  /** Largest ceiling the waits grow to (default 1 h). */
  maxMs?: number
  /** Repos remembered at most (default 100,000); the least recently failed is forgotten first and starts over at initialMs. */
  maxRepos?: number
}

export const DEFAULT_REPO_BACKOFF = { initialMs: 5_000, maxMs: 3_600_000, maxRepos: 100_000 } as const

interface Failures {
  count: number
  retryAtMs: number
}

/**
 * When a repo that keeps failing to fetch may be tried again: after failure n (1-based) it waits
 * a time drawn in [c/2, c] with c = min(maxMs, initialMs * 2^(n-1)) (common/backoff.ts
 * exponentialDelayMs; half of it jittered so a storm of failures does not come back in
 * lockstep, half fixed so it never retries at once). A success forgets the repo; so does a
 * repo that stays quiet for maxMs after its wait ran out (its next failure starts over).
 * Bounded: an LRU of maxRepos entries. Time from the injected clock; jitter seeded.
 */
export class RepoBackoff {
  readonly initialMs: number
  readonly maxMs: number
  private readonly failures: LruCache<string, Failures>

  constructor(
    options: RepoBackoffOptions,
    private readonly timers: Pick<Timers, 'now'>,
    private readonly random: SeededRandom = new SeededRandom(SeededRandom.freshSeed()),
  ) {
    this.initialMs = options.initialMs ?? DEFAULT_REPO_BACKOFF.initialMs
    this.maxMs = options.maxMs ?? DEFAULT_REPO_BACKOFF.maxMs
    if (!(this.initialMs > 0 && this.maxMs >= this.initialMs)) throw new RangeError(`invalid repo backoff: initialMs ${this.initialMs}, maxMs ${this.maxMs}`)
    this.failures = new LruCache(options.maxRepos ?? DEFAULT_REPO_BACKOFF.maxRepos, () => this.timers.now())
  }

  /** Epoch ms before which the repo must not be fetched, or null when it may be now. */
  retryAtMs(did: string): number | null {
    const entry = this.failures.get(did)
    return entry !== undefined && entry.retryAtMs > this.timers.now() ? entry.retryAtMs : null
  }

  /** Failures in a row (0 after a success or when forgotten). */
  failureCount(did: string): number {
    return this.failures.get(did)?.count ?? 0
  }

  /** Records a failed fetch; returns when the repo may be tried again (epoch ms). */
  noteFailure(did: string): number {
    const count = this.failureCount(did) + 1
    const ceiling = exponentialDelayMs(this, count - 1)
    const waitMs = Math.ceil(ceiling / 2 + this.random.next() * (ceiling / 2))
    const retryAtMs = this.timers.now() + waitMs
    this.failures.set(did, { count, retryAtMs }, waitMs + this.maxMs)
    return retryAtMs
  }

  noteSuccess(did: string): void {
    this.failures.delete(did)
  }
}

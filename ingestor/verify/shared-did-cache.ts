import { LogAggregator } from '../../common/log-aggregator.js'
import type { Logger } from '../../common/logger.js'
import type { TimerHandle, Timers } from '../../common/timers.js'
import type { DidResolution } from '../../protocol/did-document.js'
import { parseSigningKey } from '../../protocol/signing-key.js'
import type { IngestorCounters } from '../status.js'
import type { DidKeyStore, StoredDidKey } from './did-key-store.js'

export interface SharedDidCacheOptions {
  /** How long a key fetched over HTTP is served from the shared cache (didSharedCacheTtlMs). */
  ttlMs: number
  /** How long a "no document" answer is: shorter, the account may be created meanwhile. */
  unresolvedTtlMs: number
  /** A store call not answered within this is given up (counted): reads resolve over HTTP, writes are skipped. */
  timeoutMs: number
}

/** A resolution the shared cache held, and until when it may be used. */
export interface SharedHit {
  resolution: DidResolution
  expiresAtMs: number
}

/**
 * Store calls sent and not answered (nor timed out) at most; while that many are out, further
 * calls are not sent (counted as errors: reads resolve over HTTP, writes are dropped), so a Redis
 * that stops answering cannot pile up commands here.
 */
const MAX_UNANSWERED = 16
/**
 * Stores waiting for the write in flight, at most; a put beyond is dropped (counted as an error:
 * it costs a fetch later). Reached only while Redis is slow: the write in flight is given up after
 * timeoutMs, by when a cold start at --plc-rps 50 has fetched ~100 keys.
 */
const MAX_QUEUED_STORES = 10_000

/**
 * The second level of the DID cache, shared by every ingestor of the stream and kept across
 * restarts (a DidKeyStore: Redis in production). Only an optimisation: a store that fails or is
 * slow costs an HTTP request, never a frame. The lookups asked for in one event-loop turn go out
 * as one read (one per batch of the pipeline); stores and deletes as one write, one write at a
 * time: what comes while one is in flight goes out with the next, so a cold start (a store per
 * fetch) makes a few large writes rather than one per key. A read asked for after forget()
 * resolved sees the delete.
 */
export class SharedDidCache {
  /** This turn's reads: DID -> its waiters. Bounded by the DIDs of the batches in flight. */
  private reads = new Map<string, ((hit: SharedHit | null) => void)[]>()
  /** The next write: DID -> its entry, or null to delete it (at most MAX_QUEUED_STORES entries, plus the deletes of the batches in flight). */
  private writes = new Map<string, StoredDidKey | null>()
  private writeWaiters: (() => void)[] = []
  private writing = false
  private flushing = false
  private unanswered = 0
  /** One line per kind of failure and a summary per interval: an outage fails every batch's calls. */
  private readonly warnings: LogAggregator

  constructor(
    private readonly store: DidKeyStore,
    private readonly options: SharedDidCacheOptions,
    private readonly timers: Timers,
    private readonly counters: Pick<IngestorCounters, 'didSharedCacheHits' | 'didSharedCacheMisses' | 'didSharedCacheErrors'>,
    logger: Logger,
  ) {
    this.warnings = new LogAggregator(logger, 'repeated shared DID cache failures')
  }

  /** The DID's resolution while the cache holds it unexpired; null: absent, expired, or the store failed (then resolve over HTTP). */
  get(did: string): Promise<SharedHit | null> {
    return new Promise((resolve) => {
      const waiters = this.reads.get(did)
      if (waiters !== undefined) waiters.push(resolve)
      else this.reads.set(did, [resolve])
      this.scheduleFlush()
    })
  }

  /** Stores what an HTTP fetch found (not awaited: a failure is counted and costs a later fetch at most). */
  put(did: string, resolution: DidResolution, fetchedAtMs: number): void {
    const found = resolution.kind === 'key' ? { kind: 'key' as const, multikey: resolution.key.didKey.slice('did:key:'.length) } : { kind: 'unresolved' as const, reason: resolution.reason }
    const ttlMs = resolution.kind === 'key' ? this.options.ttlMs : Math.min(this.options.ttlMs, this.options.unresolvedTtlMs)
    if (this.writes.size >= MAX_QUEUED_STORES && !this.writes.has(did)) {
      this.failed('overloaded', `${MAX_QUEUED_STORES} stores waiting for Redis`)
      return
    }
    this.writes.set(did, { did, found, fetchedAtMs, expiresAtMs: fetchedAtMs + ttlMs })
    this.scheduleFlush()
  }

  /** Deletes the DID's entry (its #identity event); resolves once the delete was applied, failed or timed out. */
  forget(did: string): Promise<void> {
    return new Promise((resolve) => {
      this.writes.set(did, null)
      this.writeWaiters.push(resolve)
      this.scheduleFlush()
    })
  }

  /**
   * Resolves once every store and delete asked for so far was applied, failed or timed out
   * (each call is bounded by timeoutMs): at stop, so the keys of the last fetches are not lost.
   */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.writeWaiters.push(resolve)
      this.scheduleFlush()
    })
  }

  private scheduleFlush(): void {
    if (this.flushing) return
    this.flushing = true
    setImmediate(() => {
      this.flushing = false
      this.flushWrites()
      this.flushReads()
    })
  }

  private flushWrites(): void {
    if (this.writing) return
    if (this.writes.size === 0) {
      // Only flush() waits: everything before it has been answered.
      for (const resolve of this.writeWaiters.splice(0)) resolve()
      return
    }
    const batch = [...this.writes]
    const waiters = this.writeWaiters
    this.writes = new Map()
    this.writeWaiters = []
    this.writing = true
    const entries = batch.flatMap(([, entry]) => (entry === null ? [] : [entry]))
    const forget = batch.flatMap(([did, entry]) => (entry === null ? [did] : []))
    void this.call(() => this.store.write(entries, forget, this.timers.now())).then(() => {
      this.writing = false
      for (const resolve of waiters) resolve()
      if (this.writes.size > 0 || this.writeWaiters.length > 0) this.scheduleFlush()
    })
  }

  private flushReads(): void {
    if (this.reads.size === 0) return
    const batch = [...this.reads]
    this.reads = new Map()
    void this.call(() => this.store.read(batch.map(([did]) => did))).then((stored) => {
      const now = this.timers.now()
      batch.forEach(([, waiters], i) => {
        const hit = stored === null ? null : this.usable(stored[i] ?? null, now)
        if (stored !== null) this.counters[hit === null ? 'didSharedCacheMisses' : 'didSharedCacheHits'] += waiters.length
        for (const resolve of waiters) resolve(hit)
      })
    })
  }

  /** An unexpired entry as a resolution; null for none, an expired one, or a key that no longer parses (damaged: fetched again). */
  private usable(entry: StoredDidKey | null, now: number): SharedHit | null {
    if (entry === null || entry.expiresAtMs <= now) return null
    if (entry.found.kind === 'unresolved') return { resolution: { kind: 'unresolved', reason: entry.found.reason }, expiresAtMs: entry.expiresAtMs }
    try {
      return { resolution: { kind: 'key', key: parseSigningKey(entry.found.multikey) }, expiresAtMs: entry.expiresAtMs }
    } catch {
      return null
    }
  }

  /** The store call's answer, or null (counted, logged) when it failed, timed out, or too many are unanswered. */
  private async call<T>(request: () => Promise<T>): Promise<T | null> {
    if (this.unanswered >= MAX_UNANSWERED) {
      this.failed('overloaded', `${MAX_UNANSWERED} calls unanswered`)
      return null
    }
    this.unanswered++
    let timer: TimerHandle | undefined
    const answered = request().finally(() => this.unanswered--)
    const timedOut = new Promise<null>((resolve) => (timer = this.timers.setTimeout(() => resolve(null), this.options.timeoutMs)))
    try {
      const result = await Promise.race([answered, timedOut])
      if (result === null) this.failed('timeout', `no answer within ${this.options.timeoutMs} ms`)
      return result
    } catch (err) {
      this.failed('error', err instanceof Error ? err.message : String(err))
      return null
    } finally {
      this.timers.clearTimeout(timer!)
      // A late failure of a call given up at its timeout is already counted.
      answered.catch(() => {})
    }
  }

  private failed(kind: 'overloaded' | 'timeout' | 'error', reason: string): void {
    this.counters.didSharedCacheErrors++
    this.warnings.warn(`DID_SHARED_CACHE_${kind.toUpperCase()}`, { reason }, 'shared DID cache in Redis failed: resolving over HTTP instead (nothing is lost; didSharedCacheErrors counts)')
  }
}

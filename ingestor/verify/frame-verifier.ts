import { setTimeout as sleep } from 'node:timers/promises'
import { keyLayout } from '../../common/key-layout.js'
import { LogAggregator } from '../../common/log-aggregator.js'
import type { Logger } from '../../common/logger.js'
import { retryUntilSuccess } from '../../common/retry.js'
import { systemTimers } from '../../common/timers.js'
import type { IngestorCounters } from '../status.js'
import { INGESTOR_DEFAULTS, type ResolvedOptions } from '../options.js'
import type { RedisClient } from '../redis-connection.js'
import { DidResolver, UNRESOLVED_TTL_MS, type Resolved } from './did-resolver.js'
import { VerifyError, VerifyErrorCode } from './errors.js'
import { PlcRateLimit, WaitCancelled } from './plc-rate-limit.js'
import { didKeyCacheKeys, RedisDidKeyStore } from './redis-did-key-store.js'
import { SharedDidCache } from './shared-did-cache.js'
import type { Verdict } from './check-frame.js'
import { readSigner, type FrameSigner } from './signed-frame.js'
import { checkInline, VerifyPool, type VerifyJob } from './verify-pool.js'

export interface FrameVerifierOptions {
  /** Retry backoff while a DID server does not answer usably. */
  backoff: { initialMs: number; maxMs: number }
  /** Attempts for a did:web host before its frames are dead-lettered VERIFY_DID_UNAVAILABLE. */
  webAttempts: number
}

/** A DID's key, or the VerifyError of a did:web host that stayed unavailable. */
type KeyOrError = Resolved | VerifyError

/**
 * --verify: checks every #commit and #sync of a batch against its account's signing key
 * (signature, DID, rev, MST proofs) and returns one verdict per frame; the pipeline dead-letters
 * the frames that fail (verdicts.ts applyVerdicts). DIDs are resolved here, on the main thread; the checks
 * run in the verify workers (VerifyPool), beside the decode worker.
 *
 * Resolution outages (docs/verify.md): the PLC directory is shared by nearly every account, so
 * while it does not answer the batch waits and retries with backoff (the queue fills and the relay
 * socket is paused, as during a Redis outage); nothing is dead-lettered for an outage of ours.
 * A did:web host is one account's: after `webAttempts` its frames are dead-lettered
 * VERIFY_DID_UNAVAILABLE, so one dead host cannot stall the firehose.
 */
export class FrameVerifier {
  private readonly warnings: LogAggregator
  /** The last batch's key resolution (settled either way): the next one starts after it. */
  private resolving: Promise<void> = Promise.resolve()

  constructor(
    readonly resolver: DidResolver,
    private readonly pool: VerifyPool,
    private readonly counters: IngestorCounters,
    private readonly options: FrameVerifierOptions,
    logger: Logger,
  ) {
    this.warnings = new LogAggregator(logger, 'repeated DID resolution warnings')
  }

  /** One verdict per frame, in order; null when `cancelled()` became true while waiting out a PLC outage. */
  async verify(frames: readonly Uint8Array[], cancelled: () => boolean): Promise<Verdict[] | null> {
    // Batches resolve their keys one at a time, in the order they were given (a #identity's
    // invalidation comes before a later batch's lookups, as in one stream); a batch's checks in
    // the workers may overlap the next batch's resolution, which keeps the workers busy.
    const turn = this.resolving.then(() => this.resolveKeys(frames, cancelled))
    this.resolving = turn.then(
      () => undefined,
      () => undefined,
    )
    try {
      const { verdicts, jobs, keys } = await turn
      const checked = await this.pool.check(jobs)
      const refreshed = new Map<string, KeyOrError>()
      for (const [i, job] of jobs.entries()) verdicts[job.index] = await this.recheckRotated(job, checked[i]!, keys.get(job.signer.did)!, refreshed, cancelled)
      this.counters.verifiedFrames += jobs.filter((job) => verdicts[job.index] === null).length
      return verdicts
    } catch (err) {
      if (err instanceof WaitCancelled) return null
      throw err
    } finally {
      this.counters.didFetches = this.resolver.fetches
      this.counters.didCacheHits = this.resolver.cacheHits
    }
  }

  /** The frames' signing keys, the verdicts of those that cannot be checked, and the jobs of those that can. */
  private async resolveKeys(frames: readonly Uint8Array[], cancelled: () => boolean): Promise<{ verdicts: Verdict[]; jobs: (VerifyJob & { index: number })[]; keys: Map<string, KeyOrError> }> {
    const signers = frames.map((bytes) => readSigner(bytes))
    const signing = new Set<string>()
    const identities = new Set<string>()
    for (const signer of signers) {
      if (signer === null) continue
      if (signer.t === '#identity') identities.add(signer.did)
      else signing.add(signer.did)
    }
    // Before resolving: a commit after its account's #identity is checked against the new document.
    await Promise.all([...identities].map((did) => this.resolver.invalidate(did)))
    const keys = new Map<string, KeyOrError>()
    await Promise.all([...signing].map(async (did) => keys.set(did, await this.resolve(did, false, cancelled))))
    const verdicts: Verdict[] = signers.map(() => null)
    const jobs: (VerifyJob & { index: number })[] = []
    signers.forEach((signer, index) => {
      if (signer === null || signer.t === '#identity') return
      const resolved = keys.get(signer.did)!
      if (resolved instanceof VerifyError) verdicts[index] = { code: resolved.code, message: resolved.message, seq: signer.seq }
      else if (resolved.resolution.kind === 'unresolved') verdicts[index] = unresolved(signer, resolved.resolution.reason)
      else jobs.push({ index, bytes: frames[index]!, signer, key: resolved.resolution.key })
    })
    return { verdicts, jobs, keys }
  }

  async close(): Promise<void> {
    this.warnings.close()
    await this.resolver.flush()
    await this.pool.close()
  }

  /**
   * A signature that failed with a key from the cache may be a key rotation: the DID is resolved
   * again, once per batch (`refreshed`), and every such frame of it checked again with the fresh
   * key before it is refused.
   */
  private async recheckRotated(job: VerifyJob, verdict: Verdict, used: KeyOrError, refreshed: Map<string, KeyOrError>, cancelled: () => boolean): Promise<Verdict> {
    if (verdict?.code !== VerifyErrorCode.BadSignature || used instanceof VerifyError || !used.fromCache) return verdict
    const did = job.signer.did
    let fresh = refreshed.get(did)
    if (fresh === undefined) {
      this.counters.didKeyRefreshes++
      fresh = await this.resolve(did, true, cancelled)
      refreshed.set(did, fresh)
    }
    if (fresh instanceof VerifyError) return { code: fresh.code, message: fresh.message, seq: job.signer.seq }
    if (fresh.resolution.kind === 'unresolved') return unresolved(job.signer, fresh.resolution.reason)
    if (used.resolution.kind === 'key' && fresh.resolution.key.didKey === used.resolution.key.didKey) return verdict
    return (await checkInline([{ ...job, key: fresh.resolution.key }]))[0]!
  }

  /** Resolves with the outage policy above; a did:web that stays unavailable comes back as its VerifyError. */
  private async resolve(did: string, refresh: boolean, cancelled: () => boolean): Promise<KeyOrError> {
    const web = did.startsWith('did:web:')
    try {
      return await retryUntilSuccess(() => this.resolver.resolve(did, refresh, cancelled), {
        backoff: this.options.backoff,
        // The resolver throws VerifyError for a server that does not answer usably; anything else is a bug of ours.
        isFatal: (err) => !(err instanceof VerifyError),
        maxAttempts: web ? this.options.webAttempts : undefined,
        onFailure: (err, failures) => {
          const { code, message } = err as VerifyError
          this.counters.didResolveRetries++
          this.warnings.warn(code, { did, attempt: failures + 1, reason: message }, web ? 'did:web host unavailable; retrying' : 'PLC directory unavailable: verification waits (relay paused once the queue fills)')
        },
        wait: (ms) => sleepUnlessCancelled(ms, cancelled),
      })
    } catch (err) {
      if (web && err instanceof VerifyError) return err
      throw err
    }
  }
}

/** Most DID document requests at once, to the PLC directory and to did:web hosts each: enough to resolve a batch's new accounts quickly, few enough to be polite. */
const DID_MAX_IN_FLIGHT = 8
/** While a DID server does not answer: 250 ms, doubling up to 10 s between attempts. */
const DID_BACKOFF = { initialMs: 250, maxMs: 10_000 }
/** A did:web host gets this many attempts (~0.75 s) before its frames are dead-lettered. */
const DID_WEB_ATTEMPTS = 3
/** Tokens --plc-rps lets accrue: 50 ms of the rate (at least one), so a late timer does not lower the rate achieved. */
const PLC_BURST_MS = 50
/**
 * A shared-cache call Redis has not answered by then is given up and the DID resolved over HTTP. A
 * local Redis answers in well under 1 ms, but a 2-core machine at load 15 took over 500 ms at times;
 * a Redis that does not answer for this long holds the batch's write up anyway.
 */
const SHARED_CACHE_TIMEOUT_MS = 2_000

/** What the verifier is built from: required as bench/verify.ts passes them, the rest defaults as in ingestor/options.ts. */
export type FrameVerifierSettings = Pick<ResolvedOptions, 'plcUrl' | 'didCacheSize' | 'didCacheTtlMs' | 'didTimeoutMs' | 'verifyWorkers'> &
  Partial<Pick<ResolvedOptions, 'plcRps' | 'didSharedCacheSize' | 'didSharedCacheTtlMs' | 'stream' | 'shards' | 'redisCluster'>>

/**
 * The verifier of startIngestor({ verify: true }), counting into the pipeline's counters. With
 * `redis` (the ingestor's connection) and didSharedCacheSize > 0, keys are also cached in Redis
 * (`<stream>:did-keys`, redis-did-key-store.ts), shared by the stream's ingestors and restarts.
 */
export function createFrameVerifier(settings: FrameVerifierSettings, counters: IngestorCounters, logger: Logger, redis: RedisClient | null = null): FrameVerifier {
  const plcRps = settings.plcRps ?? INGESTOR_DEFAULTS.plcRps
  const sharedSize = settings.didSharedCacheSize ?? INGESTOR_DEFAULTS.didSharedCacheSize
  const sharedTtlMs = settings.didSharedCacheTtlMs ?? INGESTOR_DEFAULTS.didSharedCacheTtlMs
  const stream = settings.stream ?? INGESTOR_DEFAULTS.stream
  const keys = didKeyCacheKeys(keyLayout(settings.shards ?? INGESTOR_DEFAULTS.shards, settings.redisCluster ?? false), stream)
  const shared =
    redis === null || sharedSize === 0
      ? undefined
      : new SharedDidCache(
          new RedisDidKeyStore(redis, { keys, maxEntries: sharedSize, keepMs: sharedTtlMs }),
          { ttlMs: sharedTtlMs, unresolvedTtlMs: UNRESOLVED_TTL_MS, timeoutMs: SHARED_CACHE_TIMEOUT_MS },
          systemTimers,
          counters,
          logger,
        )
  const resolver = new DidResolver({
    plcUrl: settings.plcUrl,
    cacheSize: settings.didCacheSize,
    ttlMs: settings.didCacheTtlMs,
    timeoutMs: settings.didTimeoutMs,
    maxInFlight: DID_MAX_IN_FLIGHT,
    plcRateLimit: new PlcRateLimit(plcRps, Math.max(1, Math.floor((plcRps * PLC_BURST_MS) / 1000)), systemTimers, counters),
    shared,
    counters,
  })
  return new FrameVerifier(resolver, new VerifyPool(settings.verifyWorkers, logger), counters, { backoff: DID_BACKOFF, webAttempts: DID_WEB_ATTEMPTS }, logger)
}

function unresolved(signer: FrameSigner, reason: string): Verdict {
  return { code: VerifyErrorCode.DidUnresolved, message: `${signer.did} has no signing key: ${reason}`, seq: signer.seq }
}

/** Waits `ms`, checking `cancelled` every 250 ms so a stop is not held by a long backoff; throws WaitCancelled. */
async function sleepUnlessCancelled(ms: number, cancelled: () => boolean): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    if (cancelled()) throw new WaitCancelled()
    const left = until - Date.now()
    if (left <= 0) return
    await sleep(Math.min(left, 250))
  }
}

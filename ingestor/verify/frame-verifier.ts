import { setTimeout as sleep } from 'node:timers/promises'
import { LogAggregator } from '../../common/log-aggregator.js'
import type { Logger } from '../../common/logger.js'
import { retryUntilSuccess } from '../../common/retry.js'
import type { IngestorCounters } from '../status.js'
import type { ResolvedOptions } from '../options.js'
import type { DidResolution } from '../../protocol/did-document.js'
import { DidResolver } from './did-resolver.js'
import { VerifyError, VerifyErrorCode } from './errors.js'
import type { Verdict } from './check-frame.js'
import { readSignedFrame, type SignedFrame } from './signed-frame.js'
import { checkInline, VerifyPool, type VerifyJob } from './verify-pool.js'

export interface FrameVerifierOptions {
  /** Retry backoff while a DID server does not answer usably. */
  backoff: { initialMs: number; maxMs: number }
  /** Attempts for a did:web host before its frames are dead-lettered VERIFY_DID_UNAVAILABLE. */
  webAttempts: number
}

type Resolved = { resolution: DidResolution; fromCache: boolean } | VerifyError

/** The pipeline is stopping while the PLC directory is unreachable: the batch is given up unwritten. */
class Cancelled extends Error {}

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
    const parsed = frames.map((bytes) => readSignedFrame(bytes))
    const signers = new Set<string>()
    for (const frame of parsed) {
      if (frame === null) continue
      // Before resolving: a commit after its account's #identity is checked against the new document.
      if (frame.t === '#identity') this.resolver.invalidate(frame.did)
      else signers.add(frame.did)
    }
    try {
      const keys = new Map<string, Resolved>()
      await Promise.all([...signers].map(async (did) => keys.set(did, await this.resolve(did, false, cancelled))))
      const verdicts: Verdict[] = parsed.map(() => null)
      const jobs: (VerifyJob & { index: number })[] = []
      parsed.forEach((frame, index) => {
        if (frame === null || frame.t === '#identity') return
        const resolved = keys.get(frame.did)!
        if (resolved instanceof VerifyError) verdicts[index] = { code: resolved.code, message: resolved.message, seq: frame.seq }
        else if (resolved.resolution.kind === 'unresolved') verdicts[index] = unresolved(frame, resolved.resolution.reason)
        else jobs.push({ index, bytes: frames[index]!, frame, key: resolved.resolution.key })
      })
      const checked = await this.pool.check(jobs)
      const refreshed = new Map<string, Resolved>()
      for (const [i, job] of jobs.entries()) verdicts[job.index] = await this.recheckRotated(job, checked[i]!, keys.get(job.frame.did)!, refreshed, cancelled)
      this.counters.verifiedFrames += jobs.filter((job) => verdicts[job.index] === null).length
      return verdicts
    } catch (err) {
      if (err instanceof Cancelled) return null
      throw err
    } finally {
      this.counters.didFetches = this.resolver.fetches
      this.counters.didCacheHits = this.resolver.cacheHits
    }
  }

  async close(): Promise<void> {
    this.warnings.close()
    await this.pool.close()
  }

  /**
   * A signature that failed with a key from the cache may be a key rotation: the DID is resolved
   * again, once per batch (`refreshed`), and every such frame of it checked again with the fresh
   * key before it is refused.
   */
  private async recheckRotated(job: VerifyJob, verdict: Verdict, used: Resolved, refreshed: Map<string, Resolved>, cancelled: () => boolean): Promise<Verdict> {
    if (verdict?.code !== VerifyErrorCode.BadSignature || used instanceof VerifyError || !used.fromCache) return verdict
    const did = job.frame.did
    let fresh = refreshed.get(did)
    if (fresh === undefined) {
      this.counters.didKeyRefreshes++
      fresh = await this.resolve(did, true, cancelled)
      refreshed.set(did, fresh)
    }
    if (fresh instanceof VerifyError) return { code: fresh.code, message: fresh.message, seq: job.frame.seq }
    if (fresh.resolution.kind === 'unresolved') return unresolved(job.frame, fresh.resolution.reason)
    if (used.resolution.kind === 'key' && fresh.resolution.key.didKey === used.resolution.key.didKey) return verdict
    return (await checkInline([{ ...job, key: fresh.resolution.key }]))[0]!
  }

  /** Resolves with the outage policy above; a did:web that stays unavailable comes back as its VerifyError. */
  private async resolve(did: string, refresh: boolean, cancelled: () => boolean): Promise<Resolved> {
    const web = did.startsWith('did:web:')
    try {
      return await retryUntilSuccess(() => this.resolver.resolve(did, refresh), {
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

/** Most DID document requests at once: enough to resolve a batch's new accounts quickly, few enough to be polite to the PLC directory. */
const DID_MAX_IN_FLIGHT = 8
/** While a DID server does not answer: 250 ms, doubling up to 10 s between attempts. */
const DID_BACKOFF = { initialMs: 250, maxMs: 10_000 }
/** A did:web host gets this many attempts (~0.75 s) before its frames are dead-lettered. */
const DID_WEB_ATTEMPTS = 3

/** The verifier of startIngestor({ verify: true }), counting into the pipeline's counters. */
export function createFrameVerifier(options: Pick<ResolvedOptions, 'plcUrl' | 'didCacheSize' | 'didCacheTtlMs' | 'didTimeoutMs' | 'verifyWorkers'>, counters: IngestorCounters, logger: Logger): FrameVerifier {
  const resolver = new DidResolver({ plcUrl: options.plcUrl, cacheSize: options.didCacheSize, ttlMs: options.didCacheTtlMs, timeoutMs: options.didTimeoutMs, maxInFlight: DID_MAX_IN_FLIGHT })
  return new FrameVerifier(resolver, new VerifyPool(options.verifyWorkers, logger), counters, { backoff: DID_BACKOFF, webAttempts: DID_WEB_ATTEMPTS }, logger)
}

function unresolved(frame: SignedFrame, reason: string): Verdict {
  return { code: VerifyErrorCode.DidUnresolved, message: `${frame.did} has no signing key: ${reason}`, seq: frame.seq }
}

/** Waits `ms`, checking `cancelled` every 250 ms so a stop is not held by a long backoff; throws Cancelled. */
async function sleepUnlessCancelled(ms: number, cancelled: () => boolean): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    if (cancelled()) throw new Cancelled()
    const left = until - Date.now()
    if (left <= 0) return
    await sleep(Math.min(left, 250))
  }
}

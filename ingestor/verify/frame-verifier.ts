import { setTimeout as sleep } from 'node:timers/promises'
import { LogAggregator } from '../../common/log-aggregator.js'
import type { Logger } from '../../common/logger.js'
import type { DecodeResult } from '../decode-frame.js'
import type { IngestorCounters } from '../status.js'
import type { ResolvedOptions } from '../options.js'
import { DidResolver, type DidResolution } from './did-resolver.js'
import { VerifyError, VerifyErrorCode } from './errors.js'
import { verifyOps } from './mst-proof.js'
import { readSignedFrame, readCommit, unsignedBytes, type SignedFrame } from './signed-frame.js'
import { signatureValid } from './signing-key.js'

/** Why one frame failed verification (null: verified, or nothing to verify). */
export type Verdict = { code: VerifyErrorCode; message: string; seq: number | null } | null

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
 * the frames that fail (applyVerdicts). Runs on the main thread, beside the decode worker.
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
      const verdicts: Verdict[] = []
      for (const frame of parsed) verdicts.push(frame === null || frame.t === '#identity' ? null : await this.verifyFrame(frame, keys, cancelled))
      return verdicts
    } catch (err) {
      if (err instanceof Cancelled) return null
      throw err
    } finally {
      this.counters.didFetches = this.resolver.fetches
      this.counters.didCacheHits = this.resolver.cacheHits
    }
  }

  close(): void {
    this.warnings.close()
  }

  private async verifyFrame(frame: SignedFrame, keys: Map<string, Resolved>, cancelled: () => boolean): Promise<Verdict> {
    try {
      const commit = readCommit(frame)
      const signed = unsignedBytes(commit)
      let resolved = keys.get(frame.did)!
      let valid = resolved instanceof VerifyError || resolved.resolution.kind !== 'key' ? false : signatureValid(resolved.resolution.key, signed, commit.sig)
      if (!valid && !(resolved instanceof VerifyError) && resolved.fromCache) {
        // The key may have rotated since we cached it: ask once more before refusing the frame.
        this.counters.didKeyRefreshes++
        resolved = await this.resolve(frame.did, true, cancelled)
        keys.set(frame.did, resolved)
        valid = !(resolved instanceof VerifyError) && resolved.resolution.kind === 'key' && signatureValid(resolved.resolution.key, signed, commit.sig)
      }
      if (resolved instanceof VerifyError) throw resolved
      if (resolved.resolution.kind === 'unresolved') throw new VerifyError(VerifyErrorCode.DidUnresolved, `${frame.did} has no signing key: ${resolved.resolution.reason}`)
      if (!valid) throw new VerifyError(VerifyErrorCode.BadSignature, `${frame.t} commit signature does not verify with ${frame.did}'s key ${resolved.resolution.key.didKey}`)
      await verifyOps(frame, commit)
      this.counters.verifiedFrames++
      return null
    } catch (err) {
      if (err instanceof VerifyError) return { code: err.code, message: err.message, seq: frame.seq }
      throw err
    }
  }

  /** Resolves with the outage policy above; a did:web that stays unavailable comes back as its VerifyError. */
  private async resolve(did: string, refresh: boolean, cancelled: () => boolean): Promise<Resolved> {
    const { initialMs, maxMs } = this.options.backoff
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.resolver.resolve(did, refresh)
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err
        const web = did.startsWith('did:web:')
        if (web && attempt >= this.options.webAttempts) return err
        this.counters.didResolveRetries++
        this.warnings.warn(err.code, { did, attempt, reason: err.message }, web ? 'did:web host unavailable; retrying' : 'PLC directory unavailable: verification waits (relay paused once the queue fills)')
        if (cancelled()) throw new Cancelled()
        await sleep(Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 16)))
        if (cancelled()) throw new Cancelled()
      }
    }
  }
}

/** The decoder's results with every published frame that failed verification turned into a dead letter. */
export function applyVerdicts(results: DecodeResult[], verdicts: readonly Verdict[]): DecodeResult[] {
  return results.map((result, i) => {
    const verdict = verdicts[i]
    // A frame the decoder already refused keeps its decode code; filtered frames are not published anyway.
    if (verdict === null || verdict === undefined || result.kind !== 'entry') return result
    return { kind: 'bad', seq: verdict.seq, code: verdict.code, message: verdict.message }
  })
}

/** Most DID document requests at once: enough to resolve a batch's new accounts quickly, few enough to be polite to the PLC directory. */
const DID_MAX_IN_FLIGHT = 8
/** While a DID server does not answer: 250 ms, doubling up to 10 s between attempts. */
const DID_BACKOFF = { initialMs: 250, maxMs: 10_000 }
/** A did:web host gets this many attempts (~0.75 s) before its frames are dead-lettered. */
const DID_WEB_ATTEMPTS = 3

/** The verifier of startIngestor({ verify: true }), counting into the pipeline's counters. */
export function createFrameVerifier(
  options: Pick<ResolvedOptions, 'plcUrl' | 'didCacheSize' | 'didCacheTtlMs' | 'didTimeoutMs'>,
  counters: IngestorCounters,
  logger: Logger,
): FrameVerifier {
  const resolver = new DidResolver({ plcUrl: options.plcUrl, cacheSize: options.didCacheSize, ttlMs: options.didCacheTtlMs, timeoutMs: options.didTimeoutMs, maxInFlight: DID_MAX_IN_FLIGHT })
  return new FrameVerifier(resolver, counters, { backoff: DID_BACKOFF, webAttempts: DID_WEB_ATTEMPTS }, logger)
}

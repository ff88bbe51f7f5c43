import { LruCache } from '../../common/lru-cache.js'
import { didDocumentUrl, keyFromDocument, type DidResolution } from '../../protocol/did-document.js'
import type { IngestorCounters } from '../status.js'
import { VerifyError, VerifyErrorCode } from './errors.js'
import { WaitCancelled, type PlcRateLimit } from './plc-rate-limit.js'
import { RequestSlots } from './request-slots.js'
import type { SharedDidCache } from './shared-did-cache.js'

export interface DidResolverOptions {
  /** PLC directory base URL; did:plc:X is fetched from `<plcUrl>/did:plc:X`. */
  plcUrl: string
  /** Most DIDs cached in process; the least recently used is evicted when full. */
  cacheSize: number
  /** How long a resolved key is trusted in process before it is looked up again. */
  ttlMs: number
  /** One HTTP request's deadline (connect, headers and body). */
  timeoutMs: number
  /** Most HTTP requests at once to the PLC directory, and as many to did:web hosts; more wait their turn. */
  maxInFlight: number
  now?: () => number
  /** --plc-rps: every PLC request waits for it. Default none (no limit). */
  plcRateLimit?: PlcRateLimit
  /** The cache behind the in-process one, shared by the ingestors of the stream and kept across restarts (Redis). Default none. */
  shared?: SharedDidCache
  /** Where PLC requests are counted (the ingestor's counters). Default a tally of its own. */
  counters?: Pick<IngestorCounters, 'plcRequests'>
}

/** A DID without a document is asked again after this long at most (its #identity event also clears it). */
export const UNRESOLVED_TTL_MS = 60_000
/** Real DID documents are ~1 KB; a larger answer is refused rather than buffered. */
const MAX_DOCUMENT_BYTES = 64 * 1024

const never = (): boolean => false

/** A resolution, and whether a cache (in process or shared) answered it. */
export interface Resolved {
  resolution: DidResolution
  fromCache: boolean
}

/**
 * Resolves DIDs to their atproto signing key over HTTP (did:plc from the PLC directory, did:web
 * from https://<host>/.well-known/did.json), with a bounded LRU+TTL cache in process and, behind
 * it, the shared cache (shared-did-cache.ts) when given. Concurrent requests for one DID share one
 * lookup. PLC requests: at most maxInFlight at once, each waiting for --plc-rps. did:web requests
 * have their own maxInFlight and no rate limit: atproto did:web is host-level, so each host serves
 * one DID, which is fetched once at a time and then cached. A DID without a usable key resolves
 * to 'unresolved'; a server that does not answer usably (timeout, network error, 5xx, 429) throws
 * VerifyError VERIFY_DID_UNAVAILABLE and nothing is cached, so the caller decides whether to retry
 * (frame-verifier.ts). Runs on the main thread: tests intercept fetch with msw.
 */
export class DidResolver {
  private readonly cache: LruCache<string, DidResolution>
  /** Lookups under way, by DID; refreshes apart, since a lookup may be answered by the shared cache and a refresh must not. */
  private readonly pending = { lookUp: new Map<string, Promise<Resolved>>(), refresh: new Map<string, Promise<Resolved>>() }
  private readonly plcBase: string
  private readonly plcSlots: RequestSlots
  private readonly webSlots: RequestSlots
  private readonly now: () => number
  private readonly counters: Pick<IngestorCounters, 'plcRequests'>
  /** HTTP requests made. */
  fetches = 0
  /** Resolutions answered from the in-process cache. */
  cacheHits = 0

  constructor(private readonly options: DidResolverOptions) {
    this.now = options.now ?? Date.now
    this.cache = new LruCache(options.cacheSize, this.now)
    this.plcBase = options.plcUrl.replace(/\/+$/, '')
    this.plcSlots = new RequestSlots(options.maxInFlight)
    this.webSlots = new RequestSlots(options.maxInFlight)
    this.counters = options.counters ?? { plcRequests: 0 }
  }

  get cached(): number {
    return this.cache.size
  }

  /**
   * The DID's key; `refresh` skips both caches (key rotation). `fromCache` tells whether a cache
   * answered (a refresh may then find another key). A PLC request waiting for its turn rejects
   * WaitCancelled once `cancelled()` says so.
   */
  async resolve(did: string, refresh = false, cancelled: () => boolean = never): Promise<Resolved> {
    if (!refresh) {
      const hit = this.cache.get(did)
      if (hit !== undefined) {
        this.cacheHits++
        return { resolution: hit, fromCache: true }
      }
    }
    const pending = refresh ? this.pending.refresh : this.pending.lookUp
    let shared = pending.get(did)
    if (shared === undefined) {
      shared = this.lookUp(did, refresh, cancelled).finally(() => pending.delete(did))
      pending.set(did, shared)
    }
    return shared
  }

  /** Forgets the DID (its #identity event: the key or PDS may have changed), in the shared cache too; resolves once both forgot it. */
  async invalidate(did: string): Promise<void> {
    this.cache.delete(did)
    await this.options.shared?.forget(did)
  }

  /** At stop: resolves once the shared cache has the keys fetched so far (or gave up on each write after its timeout). */
  async flush(): Promise<void> {
    await this.options.shared?.flush()
  }

  private async lookUp(did: string, refresh: boolean, cancelled: () => boolean): Promise<Resolved> {
    const url = didDocumentUrl(did, this.plcBase)
    if (typeof url !== 'string') {
      this.cache.set(did, url, UNRESOLVED_TTL_MS)
      return { resolution: url, fromCache: false }
    }
    const { shared } = this.options
    if (shared !== undefined && !refresh) {
      const hit = await shared.get(did)
      if (hit !== null) {
        this.cache.set(did, hit.resolution, Math.min(this.ttlFor(hit.resolution), hit.expiresAtMs - this.now()))
        return { resolution: hit.resolution, fromCache: true }
      }
    }
    const plc = did.startsWith('did:plc:')
    const resolution = await (plc ? this.plcSlots : this.webSlots).run(async () => {
      if (cancelled()) throw new WaitCancelled()
      if (plc) {
        await this.options.plcRateLimit?.take(cancelled)
        this.counters.plcRequests++
      }
      this.fetches++
      return this.fetchDocument(did, url)
    })
    this.cache.set(did, resolution, this.ttlFor(resolution))
    shared?.put(did, resolution, this.now())
    return { resolution, fromCache: false }
  }

  private ttlFor(resolution: DidResolution): number {
    return resolution.kind === 'key' ? this.options.ttlMs : Math.min(this.options.ttlMs, UNRESOLVED_TTL_MS)
  }

  private async fetchDocument(did: string, url: string): Promise<DidResolution> {
    const unavailable = (reason: string, cause?: unknown): VerifyError => new VerifyError(VerifyErrorCode.DidUnavailable, `cannot resolve ${did}: ${reason}`, { did, url }, cause === undefined ? undefined : { cause })
    let body: string
    try {
      // No redirects: a DID document is served where the method says, nowhere else.
      const response = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs), redirect: 'error', headers: { accept: 'application/did+ld+json, application/json' } })
      if (response.status === 404 || response.status === 410 || response.status === 400) {
        void response.body?.cancel().catch(() => {})
        return { kind: 'unresolved', reason: `${url} answered ${response.status}` }
      }
      if (!response.ok) {
        void response.body?.cancel().catch(() => {})
        throw unavailable(`${url} answered ${response.status}`)
      }
      body = await readCapped(response, MAX_DOCUMENT_BYTES)
    } catch (err) {
      if (err instanceof VerifyError) throw err
      if (err instanceof DocumentTooLarge) return { kind: 'unresolved', reason: err.message }
      throw unavailable((err as Error).name === 'TimeoutError' ? `no answer from ${url} within ${this.options.timeoutMs} ms` : `${url}: ${(err as Error).message}`, err)
    }
    return keyFromDocument(did, body)
  }
}

class DocumentTooLarge extends Error {}

/** The body as text, refusing (DocumentTooLarge) one over `maxBytes` without buffering it. */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = response.body?.getReader()
  if (reader === undefined) return ''
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      // Not awaited: a server that keeps the stream open must not hold us here.
      reader.cancel().catch(() => {})
      throw new DocumentTooLarge(`DID document over ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

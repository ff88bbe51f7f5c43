import { LruCache } from '../../common/lru-cache.js'
import { didDocumentUrl, keyFromDocument, type DidResolution } from '../../protocol/did-document.js'
import { VerifyError, VerifyErrorCode } from './errors.js'

export interface DidResolverOptions {
  /** PLC directory base URL; did:plc:X is fetched from `<plcUrl>/did:plc:X`. */
  plcUrl: string
  /** Most DIDs cached; the least recently used is evicted when full. */
  cacheSize: number
  /** How long a resolved key is trusted before it is fetched again. */
  ttlMs: number
  /** One HTTP request's deadline (connect, headers and body). */
  timeoutMs: number
  /** Most HTTP requests at once; more wait their turn. */
  maxInFlight: number
  now?: () => number
}

/** A DID without a document is asked again after this long at most (its #identity event also clears it). */
const UNRESOLVED_TTL_MS = 60_000
/** Real DID documents are ~1 KB; a larger answer is refused rather than buffered. */
const MAX_DOCUMENT_BYTES = 64 * 1024

/**
 * Resolves DIDs to their atproto signing key over HTTP (did:plc from the PLC directory, did:web
 * from https://<host>/.well-known/did.json), with a bounded LRU+TTL cache. Concurrent requests for
 * one DID share one fetch; at most maxInFlight fetches run at once. A DID without a usable key
 * resolves to 'unresolved'; a server that does not answer usably (timeout, network error, 5xx,
 * 429) throws VerifyError VERIFY_DID_UNAVAILABLE and nothing is cached, so the caller decides
 * whether to retry (frame-verifier.ts). Runs on the main thread: tests intercept fetch with msw.
 */
export class DidResolver {
  private readonly cache: LruCache<string, DidResolution>
  private readonly pending = new Map<string, Promise<DidResolution>>()
  private readonly plcBase: string
  private active = 0
  /** Fetches waiting for a slot; at most one per DID (pending shares), so bounded by the DIDs of the batches in flight. */
  private readonly waiting: (() => void)[] = []
  /** HTTP requests made. */
  fetches = 0
  /** Resolutions answered from the cache. */
  cacheHits = 0

  constructor(private readonly options: DidResolverOptions) {
    this.cache = new LruCache(options.cacheSize, options.now)
    this.plcBase = options.plcUrl.replace(/\/+$/, '')
  }

  get cached(): number {
    return this.cache.size
  }

  /** The DID's key; `refresh` skips the cache (key rotation). `fromCache` tells whether a fetch happened. */
  async resolve(did: string, refresh = false): Promise<{ resolution: DidResolution; fromCache: boolean }> {
    if (!refresh) {
      const hit = this.cache.get(did)
      if (hit !== undefined) {
        this.cacheHits++
        return { resolution: hit, fromCache: true }
      }
    }
    let shared = this.pending.get(did)
    if (shared === undefined) {
      shared = this.fetchAndCache(did).finally(() => this.pending.delete(did))
      this.pending.set(did, shared)
    }
    return { resolution: await shared, fromCache: false }
  }

  /** Forgets the DID (its #identity event: the key or PDS may have changed). */
  invalidate(did: string): void {
    this.cache.delete(did)
  }

  private async fetchAndCache(did: string): Promise<DidResolution> {
    const url = didDocumentUrl(did, this.plcBase)
    if (typeof url !== 'string') {
      this.cache.set(did, url, UNRESOLVED_TTL_MS)
      return url
    }
    await this.acquire()
    let resolution: DidResolution
    try {
      this.fetches++
      resolution = await this.fetchDocument(did, url)
    } finally {
      this.release()
    }
    this.cache.set(did, resolution, resolution.kind === 'key' ? this.options.ttlMs : Math.min(this.options.ttlMs, UNRESOLVED_TTL_MS))
    return resolution
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

  private async acquire(): Promise<void> {
    while (this.active >= this.options.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.active++
  }

  private release(): void {
    this.active--
    this.waiting.shift()?.()
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

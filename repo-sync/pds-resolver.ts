import { LruCache } from '../common/lru-cache.js'
import { didDocumentUrl, parseDidDocument, pdsEndpointOf, signingKeyOf, type DidResolution, type Unresolved } from '../protocol/did-document.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'
import type { GuardedClient } from './guarded-client.js'
import { readCapped } from './http-get.js'

/** What a DID document says about an account: where its repo is served and the key that signs it, each or why it is missing. */
export interface DidIdentity {
  did: string
  pds: { kind: 'pds'; url: URL } | Unresolved
  key: DidResolution
}

export interface PdsResolverOptions {
  /** PLC directory base URL (did:plc:X is `<plcUrl>/did:plc:X`); our configuration, so its address is trusted. */
  plcUrl: string
  /** Most DIDs cached (default 10,000); the least recently used is evicted. */
  cacheSize?: number
  /** How long a document is used before it is fetched again (default 10 min). */
  ttlMs?: number
  /** One document fetch's deadline (default 10 s). */
  timeoutMs?: number
}

/** Real DID documents are ~1 KB; a larger answer is refused rather than buffered. */
const MAX_DOCUMENT_BYTES = 64 * 1024

/**
 * A DID's PDS and signing key from its DID document (protocol/did-document.ts reads it, as the
 * ingestor's verifier does): did:plc from the PLC directory, did:web from
 * https://host/.well-known/did.json, through the guarded client (limits, SSRF guard on did:web
 * hosts). Documents are cached (LRU + TTL); concurrent resolutions of one DID share one fetch.
 * Throws RepoSyncError DID_UNRESOLVED when the DID has no document (malformed, unsupported
 * method, 400/404/410, not JSON, another DID's, over 64 KiB); transport errors (UNREACHABLE,
 * TIMEOUT, RATE_LIMITED, PRIVATE_HOST, HTTP_STATUS) as the client throws them, uncached.
 */
export class PdsResolver {
  private readonly cache: LruCache<string, DidIdentity>
  private readonly pending = new Map<string, Promise<DidIdentity>>()
  private readonly plcUrl: string
  private readonly ttlMs: number
  private readonly timeoutMs: number

  constructor(
    options: PdsResolverOptions,
    private readonly client: GuardedClient,
    now: () => number,
  ) {
    this.plcUrl = options.plcUrl.replace(/\/+$/, '')
    this.ttlMs = options.ttlMs ?? 600_000
    this.timeoutMs = options.timeoutMs ?? 10_000
    this.cache = new LruCache(options.cacheSize ?? 10_000, now)
  }

  /** The DID's identity; `refresh` skips the cache (a signature that fails may be a key rotation). */
  async resolve(did: string, request: { refresh?: boolean; signal?: AbortSignal } = {}): Promise<{ identity: DidIdentity; fromCache: boolean }> {
    if (request.refresh !== true) {
      const hit = this.cache.get(did)
      if (hit !== undefined) return { identity: hit, fromCache: true }
    }
    let shared = this.pending.get(did)
    if (shared === undefined) {
      shared = this.fetchIdentity(did, request.signal).finally(() => this.pending.delete(did))
      this.pending.set(did, shared)
    }
    const identity = await shared
    this.cache.set(did, identity, this.ttlMs)
    return { identity, fromCache: false }
  }

  /** Forgets the DID (its #identity event: the PDS or key may have changed). */
  invalidate(did: string): void {
    this.cache.delete(did)
  }

  private async fetchIdentity(did: string, signal: AbortSignal | undefined): Promise<DidIdentity> {
    const unresolved = (reason: string, fields: Record<string, unknown> = {}): RepoSyncError => new RepoSyncError(RepoSyncErrorCode.DidUnresolved, `${did} has no usable DID document: ${reason}`, { did, ...fields })
    const where = didDocumentUrl(did, this.plcUrl)
    if (typeof where !== 'string') throw unresolved(where.reason)
    const url = new URL(where)
    const answer = await this.client.get(url, { accept: 'application/did+ld+json, application/json', trusted: did.startsWith('did:plc:'), timeoutMs: this.timeoutMs, signal })
    let body: Buffer | null
    try {
      if (answer.status === 400 || answer.status === 404 || answer.status === 410) throw unresolved(`${url.host} answered ${answer.status}`, { url: url.href, status: answer.status })
      if (answer.status !== 200) throw new RepoSyncError(RepoSyncErrorCode.HttpStatus, `${url.host} answered ${answer.status} for ${did}'s DID document`, { did, url: url.href, host: url.host, status: answer.status })
      body = await readCapped(answer, MAX_DOCUMENT_BYTES)
    } finally {
      answer.close()
    }
    if (body === null) throw unresolved(`document over ${MAX_DOCUMENT_BYTES} bytes`, { url: url.href })
    const parsed = parseDidDocument(did, body.toString('utf8'))
    if (parsed.kind === 'unresolved') throw unresolved(parsed.reason, { url: url.href })
    return { did, pds: pdsEndpointOf(parsed.doc), key: signingKeyOf(parsed.doc) }
  }
}

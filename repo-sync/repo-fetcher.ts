import { tmpdir } from 'node:os'
import type { CID } from 'multiformats/cid'
import { cidToString } from '../protocol/data-model.js'
import { describeValue, isFrameDecodeError } from '../protocol/errors.js'
import { decodeCbor } from '../protocol/frame.js'
import { asSignedCommit, commitSignatureValid, type SignedCommit } from '../protocol/repo-commit.js'
import type { SigningKey } from '../protocol/signing-key.js'
import { BlockStore, MAX_SPILL_BYTES, MAX_STORED_BLOCK_BYTES } from './block-store.js'
import { readCarStream } from './car-stream.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'
import type { FetchedRepo, FetchRepoOptions, FetchStats, RepoRecord } from './fetch-types.js'
import type { GuardedClient } from './guarded-client.js'
import { readCapped, type HttpAnswer } from './http-get.js'
import { walkMst, type MstLeaf } from './mst-walk.js'
import type { PdsResolver } from './pds-resolver.js'
import type { RepoBackoff } from './repo-backoff.js'

export interface RepoFetcherOptions {
  /** A larger repo is refused, by its Content-Length or while it streams (default 1 GiB, at most 2 GiB). */
  maxRepoBytes?: number
  /** A larger block is refused (default 2 MiB; records are at most 1 MB, MST nodes a few KB). */
  maxBlockBytes?: number
  /** Deadline of one getRepo exchange, first byte to last (default 15 min). */
  timeoutMs?: number
  /** Block bytes kept in memory per fetch; the rest goes to a spill file (default 32 MiB). */
  memoryBytes?: number
  /** Where spill files are made (default the OS temp dir); each is unlinked as soon as it is open. */
  spillDir?: string
}

export const DEFAULT_REPO_FETCHER = { maxRepoBytes: 1024 ** 3, maxBlockBytes: 2 * 1024 ** 2, timeoutMs: 15 * 60_000, memoryBytes: 32 * 1024 ** 2 } as const

/** The parts a fetcher works with, shared by all its fetches (one limiter, one DID cache, one backoff per process). */
export interface RepoFetcherParts {
  client: GuardedClient
  resolver: PdsResolver
  backoff: RepoBackoff
}

/** Failures that say nothing against the repo: they do not grow its backoff. */
const NOT_THE_REPOS_FAULT: ReadonlySet<string> = new Set([RepoSyncErrorCode.RateLimited, RepoSyncErrorCode.QueueFull, RepoSyncErrorCode.Aborted, RepoSyncErrorCode.Backoff])
/** XRPC errors of com.atproto.sync.getRepo (lexicon) and what they become. */
const XRPC_ERRORS: Readonly<Record<string, RepoSyncErrorCode>> = {
  RepoNotFound: RepoSyncErrorCode.NotFound,
  RepoTakendown: RepoSyncErrorCode.Takendown,
  RepoSuspended: RepoSyncErrorCode.Suspended,
  RepoDeactivated: RepoSyncErrorCode.Deactivated,
}
/** Records read from the store ahead of the one being yielded (spill-file reads overlap). */
const READ_AHEAD = 16
/** An error answer's body is read this far for its XRPC error name. */
const MAX_ERROR_BODY_BYTES = 16 * 1024

/**
 * Fetches a repository with com.atproto.sync.getRepo and checks it (docs/repo-sync.md,
 * "Fetching a repository"): the DID's PDS from its DID document (or `source`), one request
 * through the limits and the SSRF guard, the CAR parsed as it arrives with bounded memory
 * (blocks hashed, kept in memory up to `memoryBytes`, the rest spilled to disk), then the
 * commit, the signature (`verify`) and a full MST walk. A repo that keeps failing waits out its
 * backoff (REPO_SYNC_BACKOFF, nothing sent). Every failure is a RepoSyncError with a stable
 * code: a server that answers garbage gets a clear error, never a crash.
 */
export class RepoFetcher {
  readonly maxRepoBytes: number
  readonly maxBlockBytes: number
  readonly timeoutMs: number
  readonly memoryBytes: number
  readonly spillDir: string

  constructor(
    private readonly parts: RepoFetcherParts,
    options: RepoFetcherOptions = {},
  ) {
    this.maxRepoBytes = options.maxRepoBytes ?? DEFAULT_REPO_FETCHER.maxRepoBytes
    this.maxBlockBytes = options.maxBlockBytes ?? DEFAULT_REPO_FETCHER.maxBlockBytes
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REPO_FETCHER.timeoutMs
    this.memoryBytes = options.memoryBytes ?? DEFAULT_REPO_FETCHER.memoryBytes
    this.spillDir = options.spillDir ?? tmpdir()
    if (!(this.maxRepoBytes > 0 && this.maxRepoBytes <= MAX_SPILL_BYTES)) throw new RangeError(`maxRepoBytes must be in (0, ${MAX_SPILL_BYTES}] (got ${this.maxRepoBytes})`)
    if (!(this.maxBlockBytes > 0 && this.maxBlockBytes <= MAX_STORED_BLOCK_BYTES)) throw new RangeError(`maxBlockBytes must be in (0, ${MAX_STORED_BLOCK_BYTES}] (got ${this.maxBlockBytes})`)
    if (!(this.memoryBytes >= 0 && this.memoryBytes <= MAX_SPILL_BYTES)) throw new RangeError(`memoryBytes must be in [0, ${MAX_SPILL_BYTES}] (got ${this.memoryBytes})`)
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive (got ${this.timeoutMs})`)
  }

  async fetchRepo(did: string, request: FetchRepoOptions = {}): Promise<FetchedRepo> {
    const { backoff } = this.parts
    const retryAtMs = backoff.retryAtMs(did)
    if (retryAtMs !== null) {
      throw new RepoSyncError(RepoSyncErrorCode.Backoff, `${did} failed ${backoff.failureCount(did)} times in a row: not fetched again before ${new Date(retryAtMs).toISOString()}`, { did, retryAtMs })
    }
    try {
      const repo = await this.fetchOnce(did, request)
      backoff.noteSuccess(did)
      return repo
    } catch (err) {
      if (!(err instanceof RepoSyncError && NOT_THE_REPOS_FAULT.has(err.code))) backoff.noteFailure(did)
      throw err
    }
  }

  private async fetchOnce(did: string, request: FetchRepoOptions): Promise<FetchedRepo> {
    try {
      return await this.fetchChecked(did, request)
    } catch (err) {
      // The parts know the URL or the block, not always the DID: it is added here for the logs.
      if (err instanceof RepoSyncError && err.fields.did === undefined) throw new RepoSyncError(err.code, err.message, { ...err.fields, did }, { cause: err })
      throw err
    }
  }

  private async fetchChecked(did: string, request: FetchRepoOptions): Promise<FetchedRepo> {
    const { base, key, keyFromCache } = await this.target(did, request)
    const url = getRepoUrl(base, did)
    const store = new BlockStore({ memoryBytes: this.memoryBytes, spillDir: this.spillDir })
    try {
      const { root, commit, bytes } = await this.download(did, url, request, store)
      if (key !== null) await this.checkSignature(did, commit, key, keyFromCache, request.signal)
      if (request.signal?.aborted === true) throw new RepoSyncError(RepoSyncErrorCode.Aborted, `fetch of ${did} aborted`, { did })
      const { nodes, records } = await checkTree(store, commit)
      const stats: FetchStats = { url: url.href, bytes, blocks: store.size, nodes, records, spilledBytes: store.spilledBytes, heldBytes: store.heldBytes, verified: key !== null }
      return new CheckedRepo(did, cidToString(root), commit, stats, store)
    } catch (err) {
      await store.close()
      throw err
    }
  }

  /** The server to ask (the DID's PDS unless `source` says), and with `verify` the key to check the commit with, from the DID document. */
  private async target(did: string, request: FetchRepoOptions): Promise<{ base: URL; key: SigningKey | null; keyFromCache: boolean }> {
    const verify = request.verify === true
    if (request.source !== undefined && !verify) return { base: request.source, key: null, keyFromCache: false }
    const { identity, fromCache } = await this.parts.resolver.resolve(did, { signal: request.signal })
    let base = request.source
    if (base === undefined) {
      if (identity.pds.kind !== 'pds') throw new RepoSyncError(RepoSyncErrorCode.DidUnresolved, `${did} names no PDS: ${identity.pds.reason}`, { did })
      base = identity.pds.url
    }
    if (!verify) return { base, key: null, keyFromCache: fromCache }
    if (identity.key.kind !== 'key') throw new RepoSyncError(RepoSyncErrorCode.DidUnresolved, `${did} has no key to verify its repo with: ${identity.key.reason}`, { did })
    return { base, key: identity.key.key, keyFromCache: fromCache }
  }

  /** The CAR into the store, checked block by block; the commit checked as soon as it arrives (a wrong DID stops the download there). */
  private async download(did: string, url: URL, request: FetchRepoOptions, store: BlockStore): Promise<{ root: CID; commit: SignedCommit; bytes: number }> {
    const answer = await this.parts.client.get(url, { accept: 'application/vnd.ipld.car', trusted: request.source !== undefined, timeoutMs: this.timeoutMs, signal: request.signal })
    try {
      if (answer.status !== 200) throw await answerError(answer, url, did)
      const declared = Number(answer.headers['content-length'])
      if (declared > this.maxRepoBytes) throw this.tooLarge(url, declared, 'declares')
      const counter = { bytes: 0 }
      let root: CID | null = null
      let commit: SignedCommit | null = null
      for await (const item of readCarStream(this.counted(answer.body, url, counter), this.maxBlockBytes)) {
        if (item.kind === 'header') root = singleRoot(item.roots)
        else {
          if (commit === null && sameBytes(item.cid, root!.bytes)) commit = readCommitBlock(item.data, root!, did)
          await store.put(item.cid, item.data)
        }
      }
      if (commit === null) throw new RepoSyncError(RepoSyncErrorCode.NotCommit, `the CAR's root ${cidToString(root!)} is not among its blocks`, { cid: cidToString(root!) })
      return { root: root!, commit, bytes: counter.bytes }
    } finally {
      answer.close()
    }
  }

  /** The body's chunks, counted; TOO_LARGE at the first byte over maxRepoBytes. */
  private async *counted(body: AsyncIterable<Uint8Array>, url: URL, counter: { bytes: number }): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      counter.bytes += chunk.byteLength
      if (counter.bytes > this.maxRepoBytes) throw this.tooLarge(url, counter.bytes, 'sent')
      yield chunk
    }
  }

  private tooLarge(url: URL, bytes: number, how: 'declares' | 'sent'): RepoSyncError {
    return new RepoSyncError(RepoSyncErrorCode.TooLarge, `${url.host} ${how} ${bytes} bytes, over the ${this.maxRepoBytes}-byte limit (maxRepoBytes)`, {
      url: url.href,
      host: url.host,
      bytes,
      limitBytes: this.maxRepoBytes,
    })
  }

  /** A signature that fails with a cached key may be a key rotation: the DID is resolved again, once, before the repo is refused. */
  private async checkSignature(did: string, commit: SignedCommit, key: SigningKey, keyFromCache: boolean, signal: AbortSignal | undefined): Promise<void> {
    if (commitSignatureValid(commit, key)) return
    if (keyFromCache) {
      const fresh = (await this.parts.resolver.resolve(did, { refresh: true, signal })).identity.key
      if (fresh.kind === 'key' && commitSignatureValid(commit, fresh.key)) return
    }
    throw new RepoSyncError(RepoSyncErrorCode.BadSignature, `${did}'s commit ${commit.rev} is not signed by its #atproto key ${key.didKey}`, { did })
  }
}

/** A fetched, checked repo whose records are read back from its block store. */
class CheckedRepo implements FetchedRepo {
  readonly rev: string
  readonly data: string
  private iterated = false

  constructor(
    readonly did: string,
    readonly commitCid: string,
    private readonly commit: SignedCommit,
    readonly stats: FetchStats,
    private readonly store: BlockStore,
  ) {
    this.rev = commit.rev
    this.data = cidToString(commit.data)
  }

  async *records(): AsyncGenerator<RepoRecord> {
    if (this.iterated) throw new RangeError(`the records of ${this.did} were already read: records() runs once`)
    this.iterated = true
    try {
      // A window of reads started ahead, so spill-file reads overlap; each is awaited in order.
      const window: { leaf: MstLeaf; bytes: Promise<Uint8Array | undefined> }[] = []
      for await (const leaf of walkMst(this.store, this.commit.data, { checkLayers: false })) {
        const bytes = this.store.get(leaf.cid.bytes)
        bytes.catch(() => {}) // awaited below; the loop may stop before that
        window.push({ leaf, bytes })
        if (window.length > READ_AHEAD) yield await this.record(window.shift()!)
      }
      while (window.length > 0) yield await this.record(window.shift()!)
    } finally {
      await this.close()
    }
  }

  close(): Promise<void> {
    return this.store.close()
  }

  private async record({ leaf, bytes }: { leaf: MstLeaf; bytes: Promise<Uint8Array | undefined> }): Promise<RepoRecord> {
    const data = await bytes
    const cid = cidToString(leaf.cid)
    // The first pass saw every record: only close() under the loop takes one away.
    if (data === undefined || this.store.isClosed) throw new RepoSyncError(RepoSyncErrorCode.Spill, `the repo of ${this.did} was closed while its records were read`, { did: this.did, cid })
    const slash = leaf.key.indexOf('/')
    return { collection: leaf.key.slice(0, slash), rkey: leaf.key.slice(slash + 1), cid, bytes: data }
  }
}

/** The first walk: the whole tree from the commit's `data`, every check of walkMst with the layers, and every record block present. */
async function checkTree(store: BlockStore, commit: SignedCommit): Promise<{ nodes: number; records: number }> {
  let nodes = 0
  let records = 0
  for await (const leaf of walkMst(store, commit.data, { checkLayers: true, onNode: () => nodes++ })) {
    if (!store.has(leaf.cid.bytes)) throw new RepoSyncError(RepoSyncErrorCode.Mst, `record ${leaf.key} (${cidToString(leaf.cid)}) is missing from the CAR`, { cid: cidToString(leaf.cid) })
    records++
  }
  return { nodes, records }
}

/** `<base>/xrpc/com.atproto.sync.getRepo?did=<did>`, keeping a path the base may have. */
export function getRepoUrl(base: URL, did: string): URL {
  const url = new URL('xrpc/com.atproto.sync.getRepo', base.href.endsWith('/') ? base : `${base.href}/`)
  url.searchParams.set('did', did)
  return url
}

/** What a non-200 answer means: the XRPC error it names (RepoNotFound, RepoTakendown...), a 404, or just its status. */
async function answerError(answer: HttpAnswer, url: URL, did: string): Promise<RepoSyncError> {
  let xrpcError: string | undefined
  let message = ''
  try {
    const body = await readCapped(answer, MAX_ERROR_BODY_BYTES)
    const json = body === null ? null : (JSON.parse(body.toString('utf8')) as unknown)
    if (typeof json === 'object' && json !== null) {
      const { error, message: text } = json as { error?: unknown; message?: unknown }
      if (typeof error === 'string') xrpcError = error.slice(0, 100)
      if (typeof text === 'string') message = `: ${text.slice(0, 300)}`
    }
  } catch {
    // Not JSON, or the body did not arrive: the status alone speaks.
  }
  const fields = { did, url: url.href, host: url.host, status: answer.status, xrpcError }
  const code = (xrpcError !== undefined ? XRPC_ERRORS[xrpcError] : undefined) ?? (answer.status === 404 ? RepoSyncErrorCode.NotFound : RepoSyncErrorCode.HttpStatus)
  return new RepoSyncError(code, `${url.host} answered ${answer.status}${xrpcError === undefined ? '' : ` ${xrpcError}`}${message} for ${did}`, fields)
}

function singleRoot(roots: CID[]): CID {
  if (roots.length !== 1) throw new RepoSyncError(RepoSyncErrorCode.NotCommit, `the CAR has ${roots.length} roots: a repo export has one, its commit`)
  return roots[0]!
}

/** The root block as a v3 commit of `did`. */
function readCommitBlock(data: Uint8Array, root: CID, did: string): SignedCommit {
  const cid = cidToString(root)
  let value: unknown
  try {
    value = decodeCbor(data, 'commit')
  } catch (err) {
    if (isFrameDecodeError(err)) throw new RepoSyncError(RepoSyncErrorCode.NotCommit, `root block ${cid} is not DAG-CBOR: ${err.message}`, { cid }, { cause: err })
    throw err
  }
  const commit = asSignedCommit(value)
  if (commit === null) {
    const version = typeof value === 'object' && value !== null ? (value as { version?: unknown }).version : undefined
    throw new RepoSyncError(RepoSyncErrorCode.NotCommit, `root block ${cid} is not a v3 repo commit${version === undefined ? '' : ` (version ${describeValue(version)})`}`, { cid })
  }
  if (commit.did !== did) throw new RepoSyncError(RepoSyncErrorCode.WrongDid, `the repo's commit is ${commit.did}'s, not ${did}'s`, { cid, commitDid: commit.did })
  return commit
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

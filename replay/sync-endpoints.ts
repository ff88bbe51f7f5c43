import type { IncomingMessage, ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import type { SeededRandom } from '../common/random.js'
import type { Timers } from '../common/timers.js'
import { CarBuilder } from '../protocol/car-writer.js'
import { sendCar, type CarDelivery } from './car-response.js'
import { ReplayError, ReplayErrorCode } from './errors.js'
import type { PlcDirectory } from './plc-directory.js'
import { exportable, headCid, type RepoBook, type RepoEntry, type RepoHead } from './repo-book.js'
import { exportRepo, type RepoBlock } from './repo-export.js'
import type { RequestGauge } from './request-gauge.js'
import type { SyncFaults } from './sync-faults.js'

export const XRPC_PREFIX = '/xrpc/'
export const PLC_PREFIX = '/plc/'
const SYNC = 'com.atproto.sync.'
/** listRepos' page size: lexicon default and maximum. */
const LIST_REPOS_LIMIT = { fallback: 500, max: 1_000 }
const BY_COLLECTION_LIMIT = { fallback: 500, max: 2_000 }
/** Repos whose collections are remembered for listReposByCollection (recomputed when their head moves). */
const MAX_CACHED_COLLECTIONS = 100_000
const DID = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/
const NSID = /^[a-zA-Z](?:[a-zA-Z0-9-]{0,62})(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,62})?)+$/

export interface SyncEndpointsParts {
  repos: RepoBook
  faults: SyncFaults
  plc: PlcDirectory
  /** Picks the block a get-repo-corrupt fault alters (the replay's seeded source). */
  random: SeededRandom
  /** Paces slow bodies. */
  timers: Timers
  /** Counts getRepo requests in flight. */
  getRepoLoad: RequestGauge
}

/** An XRPC error answer, `{error, message}` with its HTTP status and headers: thrown inside this file only, answered by `handle`. */
class XrpcFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** A PDS answers unknown and unavailable repos with 400 (InvalidRequestError), not 404. */
const repoNotFound = (did: string): XrpcFailure => new XrpcFailure(400, 'RepoNotFound', `Could not find repo for DID: ${did}`)
const invalid = (message: string): XrpcFailure => new XrpcFailure(400, 'InvalidRequest', message)

/** Whether a request path is one of these endpoints (answered without the control API's Host check: like subscribeRepos, they are public and read-only). */
export function isSyncPath(path: string): boolean {
  return path.startsWith(PLC_PREFIX) || (path.startsWith(XRPC_PREFIX + SYNC) && path !== `${XRPC_PREFIX}${SYNC}subscribeRepos`)
}

/**
 * The read endpoints of a PDS for the fixtures' repos, as the timeline has published them so far
 * (docs/replay.md "Sync endpoints"): getRepo, getLatestCommit, getRepoStatus, listRepos,
 * listReposByCollection, plus the PLC directory (`/plc/<did>`). Errors are XRPC `{error, message}`.
 */
export class SyncEndpoints {
  private readonly collections = new Map<RepoEntry, { head: RepoHead; collections: ReadonlySet<string> | null }>()

  constructor(private readonly parts: SyncEndpointsParts) {}

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://replay.invalid')
    this.route(req, res, url).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      const failure = err instanceof XrpcFailure ? err : new XrpcFailure(500, 'InternalServerError', err instanceof Error ? err.message : String(err))
      sendJson(res, failure.status, { error: failure.error, message: failure.message }, failure.headers)
    })
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'GET') throw new XrpcFailure(405, 'MethodNotAllowed', `${url.pathname} takes GET`, { Allow: 'GET' })
    if (url.pathname.startsWith(PLC_PREFIX)) return this.plcDocument(req, res, url.pathname.slice(PLC_PREFIX.length))
    const params = url.searchParams
    switch (url.pathname.slice(XRPC_PREFIX.length)) {
      case `${SYNC}getRepo`: {
        res.once('close', this.parts.getRepoLoad.begin())
        return this.getRepo(res, didParam(params))
      }
      case `${SYNC}getLatestCommit`: {
        const repo = this.available(didParam(params))
        return sendJson(res, 200, { cid: headCid(repo.head!), rev: repo.head!.rev })
      }
      case `${SYNC}getRepoStatus`:
        return sendJson(res, 200, this.repoStatus(didParam(params)))
      case `${SYNC}listRepos`:
        return sendJson(res, 200, this.listRepos(params))
      case `${SYNC}listReposByCollection`:
        return sendJson(res, 200, this.listReposByCollection(params))
      default:
        throw new XrpcFailure(501, 'MethodNotImplemented', 'Method Not Implemented')
    }
  }

  private async getRepo(res: ServerResponse, did: string): Promise<void> {
    const { faults } = this.parts
    const answer = faults.take(did, 'answer')
    if (answer !== null) {
      faults.record(answer.kind, did)
      if (answer.kind === 'get-repo-500') throw new XrpcFailure(500, 'InternalServerError', 'Internal Server Error (replay fault get-repo-500)')
      const retryAfterSec = answer.retryAfterSec ?? 1
      const resetAt = Math.ceil(Date.now() / 1000) + retryAfterSec
      throw new XrpcFailure(429, 'RateLimitExceeded', 'Rate Limit Exceeded (replay fault get-repo-429)', {
        'RateLimit-Limit': '1',
        'RateLimit-Remaining': '0',
        'RateLimit-Reset': String(resetAt),
        'RateLimit-Policy': `1;w=${Math.max(1, retryAfterSec)}`,
        'Retry-After': String(retryAfterSec),
      })
    }
    const repo = this.available(did)
    const blocks = this.export(repo)
    const body = faults.take(did, 'body')
    let delivery: CarDelivery = { kind: 'whole' }
    if (body?.kind === 'get-repo-corrupt') faults.record(body.kind, did, this.corrupt(blocks))
    else if (body !== null) {
      faults.record(body.kind, did)
      delivery = body.kind === 'get-repo-slow' ? { kind: 'slow', bytesPerSec: body.bytesPerSec ?? 1024 } : { kind: 'truncate', bytes: body.bytes }
    }
    const car = new CarBuilder()
    for (const block of blocks) car.add(block.cid, block.bytes)
    await sendCar(res, car.parts(blocks[0]!.cid), delivery, this.parts.timers)
  }

  /** The repo, if a client may read it: known, with a commit, and active (else the PDS's errors). */
  private available(did: string): RepoEntry {
    const repo = this.parts.repos.get(did)
    if (repo?.head == null) throw repoNotFound(did)
    if (repo.active) return repo
    switch (repo.status) {
      case 'takendown':
        throw new XrpcFailure(400, 'RepoTakendown', `Repo has been takendown: ${did}`)
      case 'suspended':
        throw new XrpcFailure(400, 'RepoSuspended', `Repo has been suspended: ${did}`)
      case 'deactivated':
        throw new XrpcFailure(400, 'RepoDeactivated', `Repo has been deactivated: ${did}`)
      default:
        // Deleted (the PDS removed it), or inactive for a reason the lexicon has no error for.
        throw repoNotFound(did)
    }
  }

  private export(repo: RepoEntry): RepoBlock[] {
    const cannot = (reason: string): XrpcFailure => new XrpcFailure(500, 'RepoUnexportable', `the replay cannot export ${repo.did}: ${reason}`)
    if (repo.unexportable !== null) throw cannot(repo.unexportable)
    try {
      return exportRepo(exportable(repo))
    } catch (err) {
      if (err instanceof ReplayError && err.code === ReplayErrorCode.RepoUnexportable) throw cannot(err.message)
      throw err
    }
  }

  /** Alters one block other than the commit (seeded pick) so that it no longer hashes to its CID; returns that CID. */
  private corrupt(blocks: RepoBlock[]): string {
    const index = this.parts.random.int(1, blocks.length - 1)
    const block = blocks[index]!
    // A copy: the block is a view into the published frame (Buffer#slice would be one too, and the fault would corrupt the replay's own store).
    const bytes = Uint8Array.from(block.bytes)
    const last = bytes.length - 1
    bytes[last] = bytes[last]! ^ 0xff
    blocks[index] = { ...block, bytes }
    return block.cid.toString()
  }

  private repoStatus(did: string): Record<string, unknown> {
    const repo = this.parts.repos.get(did)
    if (repo === undefined) throw repoNotFound(did)
    // As the PDS: rev only while active; status only when not.
    const out: Record<string, unknown> = { did, active: repo.active }
    if (!repo.active && repo.status !== null) out.status = repo.status
    if (repo.active && repo.head !== null) out.rev = repo.head.rev
    return out
  }

  private listRepos(params: URLSearchParams): Record<string, unknown> {
    const limit = limitParam(params, LIST_REPOS_LIMIT)
    const from = this.cursorParam(params)
    const page = this.parts.repos.createdFrom(from).slice(0, limit)
    const repos = page.map((repo) => {
      const out: Record<string, unknown> = { did: repo.did, head: headCid(repo.head!), rev: repo.head!.rev, active: repo.active }
      if (!repo.active && repo.status !== null) out.status = repo.status
      return out
    })
    const next = from + page.length
    return next < this.parts.repos.createdCount ? { cursor: String(next), repos } : { repos }
  }

  /**
   * Active repos with a record in any of the collections (all active repos when none is given),
   * read from each repo's MST at its head; a repo the replay cannot export is not listed.
   */
  private listReposByCollection(params: URLSearchParams): Record<string, unknown> {
    const wanted = params.getAll('collection')
    for (const nsid of wanted) if (!NSID.test(nsid) || nsid.length > 317) throw invalid(`collection must be an NSID, got ${JSON.stringify(nsid)}`)
    const limit = limitParam(params, BY_COLLECTION_LIMIT)
    const from = this.cursorParam(params)
    const repos: { did: string }[] = []
    let position = from
    for (const repo of this.parts.repos.createdFrom(from)) {
      if (repos.length >= limit) break
      position++
      if (!repo.active) continue
      if (wanted.length > 0) {
        const collections = this.collectionsOf(repo)
        if (collections === null || !wanted.some((nsid) => collections.has(nsid))) continue
      }
      repos.push({ did: repo.did })
    }
    return position < this.parts.repos.createdCount ? { cursor: String(position), repos } : { repos }
  }

  /** The collections the repo holds records in at its head; null when it cannot be exported. */
  private collectionsOf(repo: RepoEntry): ReadonlySet<string> | null {
    const cached = this.collections.get(repo)
    if (cached !== undefined && cached.head === repo.head) return cached.collections
    let collections: Set<string> | null = null
    if (repo.unexportable === null) {
      try {
        collections = new Set(exportRepo(exportable(repo)).flatMap((block) => (block.key === undefined ? [] : [block.key.split('/')[0]!])))
      } catch (err) {
        if (!(err instanceof ReplayError)) throw err
      }
    }
    if (this.collections.size >= MAX_CACHED_COLLECTIONS) this.collections.clear()
    this.collections.set(repo, { head: repo.head!, collections })
    return collections
  }

  private cursorParam(params: URLSearchParams): number {
    const cursor = params.get('cursor')
    if (cursor === null || cursor === '') return 0
    const position = /^\d{1,15}$/.test(cursor) ? Number(cursor) : Number.NaN
    if (!(position <= this.parts.repos.createdCount)) throw invalid('Malformed cursor')
    return position
  }

  private plcDocument(req: IncomingMessage, res: ServerResponse, encoded: string): void {
    let did: string
    try {
      did = decodeURIComponent(encoded)
    } catch {
      did = encoded
    }
    const doc = this.parts.plc.document(did, pdsUrl(req))
    if (doc === undefined) return sendJson(res, 404, { message: `DID not registered: ${did}` })
    sendJson(res, 200, doc, {}, 'application/did+ld+json')
  }
}

function didParam(params: URLSearchParams): string {
  const did = params.get('did')
  if (did === null || did === '') throw invalid('Error: Params must have the property "did"')
  if (!DID.test(did) || did.length > 2048) throw invalid(`did must be a valid did, got ${JSON.stringify(did)}`)
  return did
}

function limitParam(params: URLSearchParams, { fallback, max }: { fallback: number; max: number }): number {
  const raw = params.get('limit')
  if (raw === null || raw === '') return fallback
  const limit = /^\d{1,7}$/.test(raw) ? Number(raw) : Number.NaN
  if (!(limit >= 1 && limit <= max)) throw invalid(`limit must be an integer in [1, ${max}], got ${JSON.stringify(raw)}`)
  return limit
}

/** The replay as this request reached it (a compose service name, a published port...): its Host when that is a bare host[:port], else the address it came in on. */
function pdsUrl(req: IncomingMessage): string {
  try {
    const url = new URL(`http://${req.headers.host ?? ''}`)
    if (url.username === '' && url.password === '' && url.pathname === '/' && url.search === '') return url.origin
  } catch {
    // not a usable Host: fall through
  }
  const { localAddress = '127.0.0.1', localPort } = req.socket
  return `http://${isIP(localAddress) === 6 ? `[${localAddress}]` : localAddress}:${localPort}`
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, type = 'application/json'): void {
  const json = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': `${type}; charset=utf-8`, 'Content-Length': Buffer.byteLength(json), ...headers })
  res.end(json)
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readCarWithRoot } from '@atproto/repo'
import * as dagCbor from '@ipld/dag-cbor'

/** The endpoints a fault switch can take over. */
export type CarPdsEndpoint = 'getRepo' | 'listRepos'

/** What a fault switch answers instead of the real answer. */
export type CarPdsFault =
  | { kind: 'status-500' }
  /** 429 with RateLimit-Reset this many seconds after the request (epoch seconds, as a PDS sends it). */
  | { kind: 'rate-limited'; resetInSec: number }
  /** 200 with a body cut off in the middle of its JSON. */
  | { kind: 'garbage' }
  /** Any JSON with any status: a listing against the lexicon, an XRPC error. */
  | { kind: 'json'; status?: number; body: unknown }

interface ServedRepo {
  did: string
  head: string
  rev: string | null
  car: Uint8Array
}

const LIST_LIMIT = { fallback: 500, max: 1_000 }

/**
 * A real HTTP server (127.0.0.1, a free port) serving repository CAR files as a PDS does:
 * `com.atproto.sync.getRepo?did=` (the CAR's bytes; the DID is its root commit's) and
 * `com.atproto.sync.listRepos` (`limit`, `cursor`; `{did, head, rev, active}` in the order the
 * CARs were added). Other methods answer 501, unknown DIDs 400 RepoNotFound. Fault switches
 * (`fail`) answer the next requests of an endpoint with a 500, a 429 or garbage instead.
 */
export class CarPds {
  readonly url: URL
  /** Every request's path and query, in order. */
  readonly requests: string[] = []
  private readonly repos = new Map<string, ServedRepo>()
  private readonly faults: Record<CarPdsEndpoint, CarPdsFault[]> = { getRepo: [], listRepos: [] }

  private constructor(private readonly server: Server) {
    this.url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  }

  static async start(cars: Iterable<Uint8Array> = []): Promise<CarPds> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const pds = new CarPds(server)
    server.on('request', (req, res) => pds.handle(req, res))
    for (const car of cars) await pds.add(car)
    return pds
  }

  /** Serves `car` (a repo export) as its commit's DID's repo, listed after those added before; returns the DID. */
  async add(car: Uint8Array): Promise<string> {
    const { root, blocks } = await readCarWithRoot(car)
    const commit = dagCbor.decode<{ did?: unknown; rev?: unknown }>(blocks.get(root)!)
    if (typeof commit.did !== 'string') throw new Error(`the CAR's root ${root.toString()} is not a repo commit`)
    this.repos.set(commit.did, { did: commit.did, head: root.toString(), rev: typeof commit.rev === 'string' ? commit.rev : null, car })
    return commit.did
  }

  get dids(): string[] {
    return [...this.repos.keys()]
  }

  /** The next `times` requests to `endpoint` get `fault` instead of their answer. */
  fail(endpoint: CarPdsEndpoint, fault: CarPdsFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults[endpoint].push(fault)
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(req.url ?? '/')
    const url = new URL(req.url ?? '/', this.url)
    const endpoint = url.pathname === '/xrpc/com.atproto.sync.getRepo' ? 'getRepo' : url.pathname === '/xrpc/com.atproto.sync.listRepos' ? 'listRepos' : null
    if (endpoint === null) return sendJson(res, 501, { error: 'MethodNotImplemented', message: 'Method Not Implemented' })
    const fault = this.faults[endpoint].shift()
    if (fault !== undefined) return sendFault(res, fault)
    if (endpoint === 'listRepos') return this.listRepos(res, url.searchParams)
    const repo = this.repos.get(url.searchParams.get('did') ?? '')
    if (repo === undefined) return sendJson(res, 400, { error: 'RepoNotFound', message: `Could not find repo for DID: ${url.searchParams.get('did')}` })
    res.writeHead(200, { 'Content-Type': 'application/vnd.ipld.car', 'Content-Length': repo.car.byteLength })
    res.end(repo.car)
  }

  private listRepos(res: ServerResponse, params: URLSearchParams): void {
    const limit = Number(params.get('limit') ?? LIST_LIMIT.fallback)
    const from = Number(params.get('cursor') ?? 0)
    const all = [...this.repos.values()]
    if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT.max || !Number.isInteger(from) || from < 0 || from > all.length) {
      return sendJson(res, 400, { error: 'InvalidRequest', message: 'bad limit or cursor' })
    }
    const repos = all.slice(from, from + limit).map(({ did, head, rev }) => ({ did, head, ...(rev === null ? {} : { rev }), active: true }))
    const next = from + repos.length
    sendJson(res, 200, next < all.length ? { cursor: String(next), repos } : { repos })
  }
}

function sendFault(res: ServerResponse, fault: CarPdsFault): void {
  switch (fault.kind) {
    case 'status-500':
      return sendJson(res, 500, { error: 'InternalServerError', message: 'Internal Server Error (car-pds fault)' })
    case 'rate-limited': {
      const reset = Math.ceil(Date.now() / 1000) + fault.resetInSec
      return sendJson(res, 429, { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded (car-pds fault)' }, { 'RateLimit-Limit': '1', 'RateLimit-Remaining': '0', 'RateLimit-Reset': String(reset) })
    }
    case 'garbage':
      res.writeHead(200, { 'Content-Type': 'application/json' })
      return void res.end('{"repos": [{"did": "did:plc:')
    case 'json':
      return sendJson(res, fault.status ?? 200, fault.body)
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), ...headers })
  res.end(json)
}

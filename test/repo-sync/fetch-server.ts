import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What a route does with one request. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** Requests in flight, shared by several servers: the global concurrency, counted where it happens. */
export class InFlight {
  now = 0
  max = 0

  enter(): void {
    this.now++
    this.max = Math.max(this.max, this.now)
  }

  leave(): void {
    this.now--
  }
}

/**
 * A real HTTP server playing a PDS (com.atproto.sync.getRepo per DID) and a PLC directory
 * (`/did:plc:...`). Counts requests, and getRepo requests in flight (from arrival to the
 * answer's end, here and in a shared InFlight). With `hold` on, getRepo answers wait in
 * `held` until the test releases them, so the test decides when each exchange ends.
 */
export class FetchServer {
  readonly url: URL
  /** host:port, the limiter's key. */
  readonly host: string
  /** Paths asked, in order. */
  readonly requests: string[] = []
  readonly inFlight = new InFlight()
  hold = false
  readonly held: (() => void)[] = []
  private readonly repos = new Map<string, Handler>()
  private readonly docs = new Map<string, unknown>()

  private constructor(
    private readonly server: Server,
    private readonly shared: InFlight | null,
  ) {
    const { port } = server.address() as AddressInfo
    this.url = new URL(`http://127.0.0.1:${port}`)
    this.host = this.url.host
  }

  static async start(shared: InFlight | null = null): Promise<FetchServer> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const fetchServer = new FetchServer(server, shared)
    server.on('request', (req, res) => fetchServer.handle(req, res))
    return fetchServer
  }

  /** getRepo requests asked so far. */
  get getRepoCount(): number {
    return this.requests.filter((path) => path.startsWith('/xrpc/com.atproto.sync.getRepo')).length
  }

  /** Serves `car` as the DID's repo, in chunks of `chunkBytes` (no Content-Length: chunked, as a streaming PDS sends it). */
  serveCar(did: string, car: Uint8Array, chunkBytes = 16 * 1024): void {
    this.route(did, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' })
      for (let at = 0; at < car.byteLength; at += chunkBytes) res.write(car.subarray(at, at + chunkBytes))
      res.end()
    })
  }

  route(did: string, handler: Handler): void {
    this.repos.set(did, handler)
  }

  /** Serves `doc` as the DID's document at /<did> (undefined: 404, as the PLC directory answers for an unknown DID). */
  serveDidDoc(did: string, doc: unknown): void {
    this.docs.set(did, doc)
  }

  /** Answers the oldest held getRepo request. */
  releaseOne(): void {
    const next = this.held.shift()
    if (next === undefined) throw new Error('no held request to release')
    next()
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url)
    this.requests.push(url.pathname + url.search)
    if (url.pathname === '/xrpc/com.atproto.sync.getRepo') {
      this.inFlight.enter()
      this.shared?.enter()
      // Out of flight once the answer is handed to the kernel ('finish'), before the client can read its end and send the next request.
      let left = false
      const leave = (): void => {
        if (left) return
        left = true
        this.inFlight.leave()
        this.shared?.leave()
      }
      res.on('finish', leave)
      res.on('close', leave)
      const handler = this.repos.get(url.searchParams.get('did') ?? '')
      const answer = (): void => {
        if (handler !== undefined) handler(req, res)
        else json(res, 400, { error: 'RepoNotFound', message: 'Could not find repo' })
      }
      if (this.hold) this.held.push(answer)
      else answer()
      return
    }
    const doc = this.docs.get(decodeURIComponent(url.pathname.slice(1)))
    if (doc === undefined) json(res, 404, { message: 'DID not registered' })
    else json(res, 200, doc)
  }
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

import { createReadStream } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A repo the fake PDS serves: its CAR file and what listRepos says of it. */
export interface ServedRepo {
  did: string
  file: string
  bytes: number
  rev: string
  commit: string
}

export interface FakePds {
  /** http://127.0.0.1:<port> */
  url: string
  close(): Promise<void>
}

/** listRepos' page size when the request names none (the lexicon's default). */
const DEFAULT_LIMIT = 500
const MAX_LIMIT = 1_000

/**
 * A PDS on this machine that serves `repos` for a backfill: `com.atproto.sync.listRepos`
 * (paginated; the cursor is the index of the next repo) and `com.atproto.sync.getRepo?did=`,
 * each CAR streamed from its file (the server holds none of it). Everything else: 404.
 */
export async function startFakePds(repos: readonly ServedRepo[]): Promise<FakePds> {
  const byDid = new Map(repos.map((repo) => [repo.did, repo]))
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://pds')
    if (url.pathname === '/xrpc/com.atproto.sync.listRepos') {
      const from = Number(url.searchParams.get('cursor') ?? 0)
      const limit = Math.min(MAX_LIMIT, Number(url.searchParams.get('limit') ?? DEFAULT_LIMIT))
      const page = repos.slice(from, from + limit).map(({ did, rev, commit }) => ({ did, head: commit, rev, active: true }))
      const cursor = from + limit < repos.length ? String(from + limit) : undefined
      return json(res, 200, { repos: page, ...(cursor === undefined ? {} : { cursor }) })
    }
    if (url.pathname === '/xrpc/com.atproto.sync.getRepo') {
      const repo = byDid.get(url.searchParams.get('did') ?? '')
      if (repo === undefined) return json(res, 400, { error: 'RepoNotFound', message: 'no such repo' })
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car', 'content-length': repo.bytes })
      createReadStream(repo.file).pipe(res)
      return
    }
    json(res, 404, { error: 'MethodNotImplemented' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

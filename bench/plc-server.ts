import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local PLC directory for benches of --verify (a child ingestor cannot see msw): GET /<did>
 * answers the DID document from a fixture's `.did-docs.json`, 404 otherwise. Null when the
 * fixture has no DID documents (frames synthesized from test/data/real).
 */
export async function startPlcServer(fixturePath: string): Promise<{ url: string; requests: () => number; close: () => Promise<void> } | null> {
  const docsPath = `${fixturePath}.did-docs.json`
  if (!existsSync(docsPath)) return null
  const docs = JSON.parse(readFileSync(docsPath, 'utf8')) as Record<string, unknown>
  let requests = 0
  const server: Server = createServer((req, res) => {
    requests++
    const doc = docs[decodeURIComponent((req.url ?? '/').slice(1))]
    res.writeHead(doc === undefined ? 404 : 200, { 'content-type': 'application/json' })
    res.end(doc === undefined ? '' : JSON.stringify(doc))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

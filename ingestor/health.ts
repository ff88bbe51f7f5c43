import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { IngestorStatus } from './status.js'

export interface HealthServer {
  port: number
  close(): Promise<void>
}

/**
 * GET /health: 200 with the status JSON while running with Redis reachable, 503 otherwise
 * (starting, stopping, Redis down) so an orchestrator's healthcheck sees outages.
 */
export async function startHealthServer(port: number, status: () => IngestorStatus): Promise<HealthServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/health') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    const current = status()
    const healthy = current.state === 'running' && current.redis.ready
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ healthy, ...current })}\n`)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

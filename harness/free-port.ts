import { createServer } from 'node:net'

/**
 * A TCP port that was free a moment ago, for servers that cannot listen on port 0 and report
 * back (redis-server treats --port 0 as "no TCP"). Callers retry on EADDRINUSE.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

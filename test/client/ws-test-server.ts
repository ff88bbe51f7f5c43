import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

export interface TestConnection {
  ws: WebSocket
  /** The request path and query the client asked for, e.g. `/xrpc/...?cursor=5`. */
  url: string
  /** `cursor` query parameter, or null when none was sent. */
  cursor: string | null
}

export interface TestServer {
  url: string
  connections: TestConnection[]
  /** Handshake attempts, including refused ones. */
  upgrades: { url: string }[]
  nextConnection(): Promise<TestConnection>
  close(): Promise<void>
}

export type UpgradeDecision = { refuse: string } | 'accept'

/**
 * A real ws server on port 0 for client tests. `onConnection` drives each accepted socket;
 * `onUpgrade` may refuse a handshake with a raw HTTP response (status line + headers).
 */
export async function startTestServer(options: {
  onConnection?: (conn: TestConnection, index: number) => void
  onUpgrade?: (attempt: number, req: IncomingMessage) => UpgradeDecision
  autoPong?: boolean
}): Promise<TestServer> {
  const http: Server = createServer((_req, res) => res.writeHead(404).end())
  const wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true })
  const connections: TestConnection[] = []
  const upgrades: { url: string }[] = []
  const waiters: ((conn: TestConnection) => void)[] = []
  const sockets = new Set<Socket>()
  http.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  http.on('upgrade', (req, socket, head) => {
    const attempt = upgrades.length
    upgrades.push({ url: req.url ?? '' })
    const decision = options.onUpgrade?.(attempt, req) ?? 'accept'
    if (decision !== 'accept') {
      socket.end(`${decision.refuse}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const url = req.url ?? ''
      const conn: TestConnection = { ws, url, cursor: new URL(url, 'http://x').searchParams.get('cursor') }
      connections.push(conn)
      ws.on('error', () => {})
      options.onConnection?.(conn, connections.length - 1)
      waiters.shift()?.(conn)
    })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}/xrpc/com.atproto.sync.subscribeRepos`,
    connections,
    upgrades,
    nextConnection: () => new Promise((resolve) => waiters.push(resolve)),
    close: async () => {
      for (const client of wss.clients) client.terminate()
      for (const socket of sockets) socket.destroy()
      wss.close()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

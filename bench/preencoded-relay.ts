import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { readFixtureFrames } from '../fixture-file/index.js'
import { withSeq } from '../replay/index.js'

/**
 * A relay for throughput benches that costs (almost) no CPU: the fixture's frames, looped and
 * renumbered (seq 1, 2, ...), are encoded once as WebSocket binary messages into a few large
 * buffers before any client connects, and each connection gets those bytes written to its socket
 * as fast as it reads them. No cursor semantics (every connection starts at seq 1), no pings, no
 * close handshake: for measuring a consumer, not for testing one. The frame count bounds the
 * memory: about frames x the fixture's mean frame size.
 */
export interface PreencodedRelay {
  url: string
  close(): Promise<void>
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
/** Size of each pre-encoded chunk: large writes, few syscalls. */
const CHUNK_BYTES = 4 << 20

/** The messages a PreencodedRelay sends: `frames` frames of the fixture, looped, seq renumbered from 1. Encode once, serve in many runs. */
export async function preencodeFrames(fixturePath: string, frames: number): Promise<readonly Buffer[]> {
  return encodeChunks(await readFixtureFrames(fixturePath), frames)
}

export async function startPreencodedRelay(chunks: readonly Buffer[]): Promise<PreencodedRelay> {
  const sockets = new Set<Socket>()
  const server = createServer((_req, res) => res.writeHead(426).end())
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    const accept = createHash('sha1')
      .update(`${String(req.headers['sec-websocket-key'])}${WS_GUID}`)
      .digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    socket.resume() // whatever the client sends (pongs, a close) is ignored
    void sendAll(socket, chunks)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** `count` frames of the fixture, looped, seq renumbered from 1, as WebSocket binary messages back to back. */
function encodeChunks(fixture: readonly Uint8Array[], count: number): Buffer[] {
  if (fixture.length === 0) throw new Error('the fixture has no frames')
  const chunks: Buffer[] = []
  let parts: Uint8Array[] = []
  let size = 0
  for (let i = 0; i < count; i++) {
    const frame = withSeq(fixture[i % fixture.length]!, i + 1)
    parts.push(wsHeader(frame.byteLength), frame)
    size += frame.byteLength + 10
    if (size >= CHUNK_BYTES) {
      chunks.push(Buffer.concat(parts))
      parts = []
      size = 0
    }
  }
  if (parts.length > 0) chunks.push(Buffer.concat(parts))
  return chunks
}

/** An unmasked, final, binary frame's header (RFC 6455 5.2). */
function wsHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x82, length])
  if (length < 0x10000) return Buffer.from([0x82, 126, length >> 8, length & 0xff])
  const header = Buffer.alloc(10)
  header[0] = 0x82
  header[1] = 127
  header.writeBigUInt64BE(BigInt(length), 2)
  return header
}

async function sendAll(socket: Socket, chunks: readonly Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    if (socket.destroyed) return
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done)
          socket.off('close', done)
          resolve()
        }
        socket.on('drain', done)
        socket.on('close', done)
      })
    }
  }
}

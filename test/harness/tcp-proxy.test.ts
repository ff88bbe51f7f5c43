import { createHash, randomBytes } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { TcpProxy } from '../../harness/tcp-proxy.js'

/** Upstream that echoes everything back, and counts what it received. */
let echo: Server
let echoReceived = 0
let proxy: TcpProxy
const sockets: Socket[] = []

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
}

function startEcho(): Server {
  return createServer((socket) => {
    socket.on('data', (chunk) => {
      echoReceived += chunk.length
      socket.write(chunk)
    })
    socket.on('error', () => {})
  })
}

async function open(): Promise<Socket> {
  const socket = connect({ host: proxy.host, port: proxy.port })
  socket.on('error', () => {})
  sockets.push(socket)
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

/** Resolves with the first `bytes` bytes the socket receives. */
function receive(socket: Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      total += chunk.length
      if (total >= bytes) {
        socket.off('data', onData)
        resolve(Buffer.concat(chunks).subarray(0, bytes))
      }
    }
    socket.on('data', onData)
    socket.once('close', () => reject(new Error(`closed after ${total} of ${bytes} bytes`)))
  })
}

const closed = (socket: Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

beforeEach(async () => {
  echoReceived = 0
  echo = startEcho()
  const port = await listen(echo)
  proxy = await TcpProxy.start({ upstream: { host: '127.0.0.1', port }, maxBufferedBytes: 256 * 1024 })
})

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await proxy.close()
  await new Promise((resolve) => echo.close(resolve))
})

describe('TcpProxy', () => {
  it('forwards bytes both ways unchanged and counts them', async () => {
    const socket = await open()
    const payload = randomBytes(300_000)
    const echoed = receive(socket, payload.length)
    socket.write(payload)
    expect(sha(await echoed)).toBe(sha(payload))
    expect(proxy.stats).toMatchObject({ accepted: 1, open: 1, bytesUp: payload.length, bytesDown: payload.length })
  })

  it('adds latency in each direction (never delivers sooner)', async () => {
    proxy.setLatency(60)
    const socket = await open()
    const started = performance.now()
    const echoed = receive(socket, 5)
    socket.write('hello')
    expect((await echoed).toString()).toBe('hello')
    expect(performance.now() - started).toBeGreaterThanOrEqual(115) // 2 x 60 ms, minus timer rounding
  })

  it('limits bandwidth (never faster than the limit)', async () => {
    proxy.setBandwidth(100_000)
    const socket = await open()
    const payload = randomBytes(60_000)
    const started = performance.now()
    const echoed = receive(socket, payload.length)
    socket.write(payload)
    expect(sha(await echoed)).toBe(sha(payload))
    // 60 kB at 100 kB/s through a fresh connection (empty token bucket): at least 0.6 s.
    expect(performance.now() - started).toBeGreaterThanOrEqual(550)
  })

  it('stalls without buffering more than its bound, then delivers everything in order', async () => {
    const socket = await open()
    proxy.stall()
    // More than the kernel's loopback socket buffers can hold, so the sender must be held back.
    const payload = randomBytes(32 * 1024 * 1024)
    const echoed = receive(socket, payload.length)
    socket.write(payload)
    await sleep(300)
    expect(echoReceived).toBe(0)
    expect(socket.writableLength).toBeGreaterThan(0)
    // One chunk (<= 64 KiB) may land after the pause threshold.
    expect(proxy.stats.buffered).toBeLessThanOrEqual(256 * 1024 + 64 * 1024)
    expect(proxy.stats.buffered).toBeGreaterThan(0)
    proxy.unstall()
    expect(sha(await echoed)).toBe(sha(payload))
  })

  it('cut() closes every open connection; new connections still work', async () => {
    const first = await open()
    const second = await open()
    await sleep(20)
    expect(proxy.stats.open).toBe(2)
    proxy.cut()
    await Promise.all([closed(first), closed(second)])
    const third = await open()
    const echoed = receive(third, 2)
    third.write('ok')
    expect((await echoed).toString()).toBe('ok')
  })

  it('disable() refuses new connections until enable()', async () => {
    const before = await open()
    proxy.disable()
    await closed(before)
    const refused = connect({ host: proxy.host, port: proxy.port })
    refused.on('error', () => {})
    sockets.push(refused)
    await closed(refused)
    expect(proxy.stats.refused).toBe(1)
    proxy.enable()
    const after = await open()
    const echoed = receive(after, 3)
    after.write('yes')
    expect((await echoed).toString()).toBe('yes')
  })

  it('setUpstream() sends new connections to another server', async () => {
    const other = createServer((socket) => socket.end('other'))
    const port = await listen(other)
    try {
      proxy.setUpstream({ host: '127.0.0.1', port })
      const socket = await open()
      expect((await receive(socket, 5)).toString()).toBe('other')
    } finally {
      await new Promise((resolve) => other.close(resolve))
    }
  })

  it('proxiedUrl() keeps credentials and path, swaps host and port', () => {
    expect(proxy.proxiedUrl('redis://:secret@10.0.0.1:6379/2')).toBe(`redis://:secret@127.0.0.1:${proxy.port}/2`)
  })
})

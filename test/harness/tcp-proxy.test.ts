import { createHash, randomBytes } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { TcpProxy } from '../../harness/tcp-proxy.js'
import { ioTurns, waitUntil } from '../../harness/wait.js'
import { FakeTimers } from '../support/fake-timers.js'

/** Upstream that echoes everything back, and counts what it received. */
let echo: Server
let echoReceived = 0
let proxy: TcpProxy
/** The proxy's clock: latency and bandwidth move only when a test advances it; the sockets are real. */
let timers: FakeTimers
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
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex')
const WAIT = { timeoutMs: 10_000, intervalMs: 5 }

/** Counts the bytes a socket receives. */
function countReceived(socket: Socket): { bytes: number } {
  const counter = { bytes: 0 }
  socket.on('data', (chunk: Buffer) => (counter.bytes += chunk.length))
  return counter
}

beforeEach(async () => {
  echoReceived = 0
  echo = startEcho()
  const port = await listen(echo)
  timers = new FakeTimers()
  proxy = await TcpProxy.start({ upstream: { host: '127.0.0.1', port }, maxBufferedBytes: 256 * 1024, timers })
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

  it('adds latency in each direction: held until it has elapsed (fake time), delivered then', async () => {
    proxy.setLatency(60)
    const socket = await open()
    const received = countReceived(socket)
    const echoed = receive(socket, 5)
    socket.write('hello')
    // Up: the proxy holds the bytes until 60 ms have passed, not 1 ms sooner.
    await waitUntil(() => proxy.stats.buffered === 5, { what: 'the proxy to queue the request', ...WAIT })
    timers.advance(59)
    await ioTurns()
    expect([echoReceived, proxy.stats.bytesUp]).toEqual([0, 0])
    timers.advance(1)
    await waitUntil(() => echoReceived === 5, { what: 'the upstream to receive the request', ...WAIT })
    // Down: the echo is held another 60 ms on its way back.
    await waitUntil(() => proxy.stats.buffered === 5, { what: 'the proxy to queue the echo', ...WAIT })
    timers.advance(59)
    await ioTurns()
    expect([received.bytes, proxy.stats.bytesDown]).toEqual([0, 0])
    timers.advance(1)
    expect((await echoed).toString()).toBe('hello')
  })

  it('limits bandwidth: never more bytes than the limit allows in fake time, everything intact', async () => {
    proxy.setBandwidth(100_000)
    const socket = await open()
    const payload = randomBytes(60_000)
    const echoed = receive(socket, payload.length)
    socket.write(payload)
    // A fresh connection starts with an empty token bucket: nothing goes before time passes.
    await waitUntil(() => proxy.stats.buffered === payload.length, { what: 'the proxy to queue the payload', ...WAIT })
    await ioTurns()
    expect([echoReceived, proxy.stats.bytesUp]).toEqual([0, 0])
    // 100 kB/s is 30 kB in 300 ms: exactly that much goes up, the rest waits.
    timers.advance(300)
    expect(proxy.stats.bytesUp).toBe(30_000)
    await waitUntil(() => echoReceived === 30_000, { what: 'the upstream to receive 30 kB', ...WAIT })
    await ioTurns()
    expect(echoReceived).toBe(30_000)
    timers.advance(300)
    expect(proxy.stats.bytesUp).toBe(payload.length)
    // The echo comes back through the limit too: once the proxy holds all of it, 600 ms are enough for 60 kB.
    await waitUntil(() => proxy.stats.bytesDown + proxy.stats.buffered === payload.length, { what: 'the proxy to hold the whole echo', ...WAIT })
    timers.advance(600)
    expect(sha(await echoed)).toBe(sha(payload))
  })

  it('stalls without buffering more than its bound, then delivers everything in order', async () => {
    const socket = await open()
    proxy.stall()
    // More than the kernel's loopback socket buffers can hold, so the sender must be held back.
    const payload = randomBytes(32 * 1024 * 1024)
    const echoed = receive(socket, payload.length)
    socket.write(payload)
    // The proxy reads until its bound and pauses; a proxy still reading would take more in these turns.
    await waitUntil(() => proxy.stats.buffered >= 256 * 1024, { what: 'the proxy to fill its buffer', timeoutMs: 10_000, intervalMs: 5 })
    await ioTurns()
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
    await waitUntil(() => proxy.stats.open === 2, { what: 'the proxy to accept both', timeoutMs: 10_000, intervalMs: 5 })
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

import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { Backoff } from '../../client/backoff.js'
import {
  RelayClient,
  type RelayClientOptions,
  type RelayCloseEvent,
  type RelayHandshakeErrorEvent,
  type RelayOpenEvent,
} from '../../client/relay-client.js'
import { SeededRandom } from '../../common/random.js'
import { startTestServer, until, type TestServer } from './ws-test-server.js'

const seed = Number(process.env.TEST_SEED ?? SeededRandom.freshSeed())
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function server(options: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const s = await startTestServer(options)
  cleanups.push(() => s.close())
  return s
}

function client(options: RelayClientOptions): RelayClient {
  const c = new RelayClient({ random: new SeededRandom(seed), ...options })
  cleanups.push(() => c.close())
  return c
}

/** A test frame carrying its number in the first 4 bytes, padded with seeded noise. */
function frame(n: number, random: SeededRandom, size = 64): Buffer {
  const bytes = Buffer.from(random.bytes(size))
  bytes.writeUInt32BE(n, 0)
  return bytes
}

function record(c: RelayClient): { opens: RelayOpenEvent[]; closes: RelayCloseEvent[]; handshakeErrors: RelayHandshakeErrorEvent[] } {
  const events = { opens: [] as RelayOpenEvent[], closes: [] as RelayCloseEvent[], handshakeErrors: [] as RelayHandshakeErrorEvent[] }
  c.on('open', (e: RelayOpenEvent) => events.opens.push(e))
  c.on('close', (e: RelayCloseEvent) => events.closes.push(e))
  c.on('handshake-error', (e: RelayHandshakeErrorEvent) => events.handshakeErrors.push(e))
  return events
}

describe(`RelayClient (seed ${seed})`, () => {
  it('delivers binary frames byte-for-byte in order and reconnects from the cursor it is given', async () => {
    const random = new SeededRandom(seed)
    const sent: Buffer[] = []
    const s = await server({
      onConnection: (conn, index) => {
        const from = conn.cursor === null ? 1 : Number(conn.cursor) + 1
        const count = index === 0 ? 5 : 3
        for (let n = from; n < from + count; n++) {
          const bytes = frame(n, random, 16 + random.int(0, 2000))
          sent.push(bytes)
          conn.ws.send(bytes)
        }
        if (index === 0) conn.ws.close(1001, 'going away')
      },
    })
    const received: Buffer[] = []
    let lastSeq: number | null = null
    const c = client({
      url: s.url,
      cursor: () => lastSeq,
      onFrame: (bytes) => {
        received.push(Buffer.from(bytes))
        lastSeq = Buffer.from(bytes).readUInt32BE(0)
      },
      backoff: { initialMs: 10, maxMs: 40 },
    })
    const events = record(c)
    c.start()
    await until(() => received.length === 8, '8 frames')
    expect(s.connections.map((conn) => conn.cursor)).toEqual([null, '5'])
    expect(received.map((b) => b.readUInt32BE(0))).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    received.forEach((bytes, i) => expect(bytes.equals(sent[i]!), `frame ${i}, seed ${seed}`).toBe(true))
    expect(events.opens.map((e) => e.cursor)).toEqual([null, 5])
    expect(events.closes).toHaveLength(1)
    expect(events.closes[0]).toMatchObject({ code: 1001, reason: 'going away', willReconnect: true })
    expect(c.stats).toMatchObject({ connects: 2, reconnects: 1, framesReceived: 8 })
    expect(c.stats.bytesReceived).toBe(sent.reduce((sum, b) => sum + b.length, 0))
  })

  it('ignores text messages without disturbing the binary stream', async () => {
    const random = new SeededRandom(seed)
    const s = await server({
      onConnection: (conn) => {
        conn.ws.send(frame(1, random))
        conn.ws.send('{"not":"a frame"}')
        conn.ws.send(frame(2, random))
      },
    })
    const received: number[] = []
    const c = client({ url: s.url, cursor: () => null, onFrame: (bytes) => received.push(Buffer.from(bytes).readUInt32BE(0)) })
    c.start()
    await until(() => received.length === 2, '2 frames')
    expect(received).toEqual([1, 2])
    expect(c.stats.textMessagesIgnored).toBe(1)
    expect(c.stats.connects).toBe(1)
  })

  it('grows the reconnect delay with full jitter and resets it after a stable connection', async () => {
    const options = { initialMs: 5, maxMs: 40, stableMs: 1000 }
    // Connection 6 stays up past stableMs; all others are dropped at once.
    const s = await server({
      onConnection: (conn, index) => {
        if (index === 6) setTimeout(() => conn.ws.close(1011, 'later'), 1300)
        else conn.ws.close(1011, 'now')
      },
    })
    const c = client({ url: s.url, cursor: () => null, onFrame: () => {}, backoff: options })
    const events = record(c)
    c.start()
    await until(() => events.closes.length === 9, '9 closes')
    await c.close()
    // The same seed drives a replica, so the expected delays are exact.
    const replica = new Backoff(options, new SeededRandom(seed))
    const expected: number[] = []
    const ceilings: number[] = []
    for (let i = 0; i < 9; i++) {
      if (i === 6) replica.reset()
      ceilings.push(replica.ceilingMs)
      expected.push(replica.next())
    }
    expect(ceilings).toEqual([5, 10, 20, 40, 40, 40, 5, 10, 20])
    expect(
      events.closes.slice(0, 9).map((e) => e.delayMs),
      `seed ${seed}`,
    ).toEqual(expected)
  })

  it('reconnects when the relay stalls (no frame, no pong)', async () => {
    const s = await server({ autoPong: false })
    const c = client({ url: s.url, cursor: () => null, onFrame: () => {}, stallTimeoutMs: 300, pingIntervalMs: 50, backoff: { initialMs: 5, maxMs: 10 } })
    const events = record(c)
    c.start()
    await until(() => s.connections.length === 2, 'a second connection')
    expect(events.closes[0]?.reason).toMatch(/^stalled: no frame or pong for \d+ ms$/)
    expect(events.closes[0]?.willReconnect).toBe(true)
  })

  it('keeps a quiet connection that answers pings, and one that sends frames', async () => {
    const random = new SeededRandom(seed)
    const quiet = await server({ autoPong: true })
    const chatty = await server({
      autoPong: false,
      onConnection: (conn) => {
        const timer = setInterval(() => conn.ws.send(frame(1, random)), 50)
        conn.ws.on('close', () => clearInterval(timer))
      },
    })
    const options = { cursor: () => null, onFrame: () => {}, stallTimeoutMs: 1000, pingIntervalMs: 100 }
    const a = client({ url: quiet.url, ...options })
    const b = client({ url: chatty.url, ...options })
    a.start()
    b.start()
    await until(() => quiet.connections.length === 1 && chatty.connections.length === 1, 'both connected')
    await new Promise((resolve) => setTimeout(resolve, 2500))
    expect(quiet.upgrades).toHaveLength(1)
    expect(chatty.upgrades).toHaveLength(1)
    expect(b.stats.framesReceived).toBeGreaterThan(0)
  })

  it('pause() stops reading the socket so the relay sees backpressure, and resume() delivers everything', async () => {
    const random = new SeededRandom(seed)
    const frameSize = 64 * 1024
    const threshold = 4 * 1024 * 1024
    let sent = 0
    let maxBuffered = 0
    let doneSending: () => void
    const sendingDone = new Promise<void>((resolve) => (doneSending = resolve))
    const s = await server({
      onConnection: (conn) => {
        // Send until ws itself has to hold >= 4 MiB: the kernel buffers are full because the
        // client does not read. A cap keeps a broken pause from running forever.
        const pump = (): void => {
          while (conn.ws.bufferedAmount < threshold && sent < 4096) conn.ws.send(frame(++sent, random, frameSize))
          maxBuffered = Math.max(maxBuffered, conn.ws.bufferedAmount)
          if (conn.ws.bufferedAmount >= threshold || sent >= 4096) doneSending()
          else setTimeout(pump, 5)
        }
        pump()
      },
    })
    const received: number[] = []
    const c = client({
      url: s.url,
      cursor: () => null,
      onFrame: (bytes) => received.push(Buffer.from(bytes).readUInt32BE(0)),
      stallTimeoutMs: 700,
      pingIntervalMs: 50,
    })
    c.pause() // before start: applied as soon as the socket opens
    expect(c.stats.paused).toBe(true)
    c.start()
    await sendingDone
    // Longer than the stall timeout: a paused socket must not count as a stalled relay.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(maxBuffered).toBeGreaterThanOrEqual(threshold)
    expect(received.length).toBeLessThan(sent)
    const receivedWhilePaused = received.length
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(received.length).toBe(receivedWhilePaused)
    c.resume()
    expect(c.stats.paused).toBe(false)
    await until(() => received.length === sent, () => `all ${sent} frames after resume (got ${received.length}, stats ${JSON.stringify(c.stats)})`)
    expect(received).toEqual(Array.from({ length: sent }, (_, i) => i + 1))
    expect(c.stats.connects).toBe(1)
  })

  it('honours Retry-After on a refused handshake and falls back to backoff without it', async () => {
    const s = await server({
      onUpgrade: (attempt) => {
        if (attempt === 0) return { refuse: 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1' }
        if (attempt === 1) return { refuse: 'HTTP/1.1 429 Too Many Requests' }
        if (attempt === 2) return { refuse: 'HTTP/1.1 400 Bad Request\r\nRetry-After: 100' }
        return 'accept'
      },
    })
    const c = client({ url: s.url, cursor: () => 42, onFrame: () => {}, backoff: { initialMs: 10, maxMs: 20 } })
    const events = record(c)
    c.start()
    await until(() => events.opens.length === 1, 'the accepted connection')
    expect(events.handshakeErrors).toEqual([
      { status: 503, retryAfterMs: 1000 },
      { status: 429, retryAfterMs: null },
      { status: 400, retryAfterMs: null },
    ])
    expect(events.closes.map((e) => e.willReconnect)).toEqual([true, true, true])
    expect(events.closes[0]!.delayMs).toBe(1000)
    expect(events.closes[0]!.reason).toBe('handshake refused: HTTP 503')
    expect(events.closes[1]!.delayMs).toBeLessThanOrEqual(20)
    expect(events.closes[2]!.delayMs).toBeLessThanOrEqual(20)
    // Timers never fire early by more than clock rounding.
    expect(s.upgrades[1]!.atMs - s.upgrades[0]!.atMs).toBeGreaterThanOrEqual(990)
    expect(s.connections[0]!.cursor).toBe('42')
    expect(events.opens).toEqual([{ url: `${s.url}?cursor=42`, cursor: 42 }])
  })

  it('close() stops deliveries and reconnects, even while paused and while waiting to reconnect', async () => {
    const random = new SeededRandom(seed)
    const s = await server({
      onConnection: (conn) => {
        const timer = setInterval(() => conn.ws.send(frame(1, random)), 5)
        conn.ws.on('close', () => clearInterval(timer))
      },
    })
    let frames = 0
    const c = client({ url: s.url, cursor: () => null, onFrame: () => frames++, backoff: { initialMs: 5, maxMs: 10 } })
    const events = record(c)
    c.start()
    await until(() => frames >= 5, '5 frames')
    c.pause()
    await c.close()
    const framesAtClose = frames
    const closeCodes: number[] = []
    s.connections[0]!.ws.on('close', (code) => closeCodes.push(code))
    await until(() => s.connections[0]!.ws.readyState === s.connections[0]!.ws.CLOSED, 'server side closed')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(frames).toBe(framesAtClose)
    expect(s.upgrades).toHaveLength(1)
    expect(events.closes.at(-1)).toMatchObject({ willReconnect: false, code: 1000 })

    // Closed while a reconnect is scheduled: the timer is cancelled.
    const refusing = await server({ onUpgrade: () => ({ refuse: 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1' }) })
    const d = client({ url: refusing.url, cursor: () => null, onFrame: () => {} })
    const dEvents = record(d)
    d.start()
    await until(() => dEvents.closes.length === 1, 'the refused handshake')
    await d.close()
    await new Promise((resolve) => setTimeout(resolve, 1300))
    expect(refusing.upgrades).toHaveLength(1)
  })

  it('close() does not hang on a relay that never answers the close frame', async () => {
    const s = await server({ onConnection: (conn) => conn.ws.pause() })
    const c = client({ url: s.url, cursor: () => null, onFrame: () => {} })
    const events = record(c)
    c.start()
    await until(() => events.opens.length === 1, 'open')
    await c.close()
    expect(events.closes.at(-1)?.willReconnect).toBe(false)
  })

  it('never logs credentials from the relay URL', async () => {
    const s = await server({ onConnection: (conn) => conn.ws.close(1011, 'bye') })
    const lines: string[] = []
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) })
    const url = s.url.replace('ws://', 'ws://alice:hunter2@')
    const c = client({ url, cursor: () => 7, onFrame: () => {}, logger, backoff: { initialMs: 5, maxMs: 10 } })
    const events = record(c)
    c.start()
    await until(() => events.closes.length >= 2, 'two closes')
    await c.close()
    expect(lines.length).toBeGreaterThan(3)
    expect(lines.join('\n')).not.toContain('hunter2')
    expect(events.opens[0]!.url).not.toContain('hunter2')
  })
})

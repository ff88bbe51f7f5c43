import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { Backoff } from '../../common/backoff.js'
import { RelayClient, type RelayClientOptions, type RelayCloseEvent, type RelayHandshakeErrorEvent, type RelayOpenEvent } from '../../client/relay-client.js'
import { SeededRandom } from '../../common/random.js'
import { ioTurns, waitUntil } from '../../harness/wait.js'
import { FakeTimers } from '../support/fake-timers.js'
import { startTestServer, type TestServer } from './ws-test-server.js'

/** Real socket events (connects, frames, closes) may take this long on a busy machine. */
const WAIT = { timeoutMs: 10_000, intervalMs: 5 }

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

/** Waits for close event `index` (real socket time), then moves fake time through its reconnect delay. */
async function reconnectAfterClose(events: { closes: RelayCloseEvent[] }, index: number, timers: FakeTimers): Promise<void> {
  await waitUntil(() => events.closes.length > index, { what: `close ${index + 1}`, ...WAIT })
  timers.advance(events.closes[index]!.delayMs)
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
    await waitUntil(() => received.length === 8, { what: '8 frames', ...WAIT })
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
    await waitUntil(() => received.length === 2, { what: '2 frames', ...WAIT })
    expect(received).toEqual([1, 2])
    expect(c.stats.textMessagesIgnored).toBe(1)
    expect(c.stats.connects).toBe(1)
  })

  it('grows the reconnect delay with full jitter and resets it after a stable connection', async () => {
    const options = { initialMs: 5, maxMs: 40, stableMs: 1000 }
    // Connection 6 stays up past stableMs (1300 ms of fake time, then the test closes it); all
    // others are dropped at once.
    const s = await server({
      onConnection: (conn, index) => {
        if (index !== 6) conn.ws.close(1011, 'now')
      },
    })
    const timers = new FakeTimers()
    const c = client({ url: s.url, cursor: () => null, onFrame: () => {}, backoff: options, timers })
    const events = record(c)
    c.start()
    for (let i = 0; i < 9; i++) {
      if (i === 6) {
        await waitUntil(() => events.opens.length === 7 && s.connections.length === 7, { what: 'connection 6 open', ...WAIT })
        timers.advance(1300)
        s.connections[6]!.ws.close(1011, 'later')
      }
      if (i < 8) await reconnectAfterClose(events, i, timers)
      else await waitUntil(() => events.closes.length === 9, { what: '9 closes', ...WAIT })
    }
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
    const timers = new FakeTimers()
    const c = client({ url: s.url, cursor: () => null, onFrame: () => {}, stallTimeoutMs: 300, pingIntervalMs: 50, backoff: { initialMs: 5, maxMs: 10 }, timers })
    const events = record(c)
    c.start()
    await waitUntil(() => events.opens.length === 1, { what: 'open', ...WAIT })
    timers.advance(300)
    await reconnectAfterClose(events, 0, timers)
    await waitUntil(() => s.connections.length >= 2, { what: 'a second connection', ...WAIT })
    expect(events.closes[0]?.reason).toMatch(/^stalled: no frame for \d+ ms$/)
    expect(events.closes[0]?.willReconnect).toBe(true)
    expect(c.stats.stalls).toBeGreaterThanOrEqual(1)
  })

  it('counts frames only as life: a relay that answers every ping but sends no frame is stalled; one that sends frames is kept', async () => {
    const random = new SeededRandom(seed)
    let pingsAnswered = 0
    const quiet = await server({ autoPong: true, onConnection: (conn) => conn.ws.on('ping', () => pingsAnswered++) })
    const chatty = await server({ autoPong: false })
    const timers = new FakeTimers()
    const options = { cursor: () => null, onFrame: () => {}, stallTimeoutMs: 1000, pingIntervalMs: 100, backoff: { initialMs: 5, maxMs: 10 }, timers }
    const a = client({ url: quiet.url, ...options })
    const b = client({ url: chatty.url, ...options })
    const quietEvents = record(a)
    a.start()
    b.start()
    await waitUntil(() => a.stats.connects === 1 && b.stats.connects === 1 && chatty.connections.length === 1, { what: 'both connections', ...WAIT })
    const startedAtMs = timers.now()
    let chattyFrameAtMs = -Infinity
    /** 25 ms of fake time (one liveness tick); every 100 ms of it the chatty relay sends a frame and b reads it. */
    const tick = async (): Promise<void> => {
      if (timers.now() - chattyFrameAtMs >= 100) {
        const framesBefore = b.stats.framesReceived
        chatty.connections[0]!.ws.send(frame(1, random))
        await waitUntil(() => b.stats.framesReceived > framesBefore, { what: 'a frame from the chatty relay', ...WAIT })
        chattyFrameAtMs = timers.now()
      }
      timers.advance(25)
    }
    while (a.stats.stalls === 0 && timers.now() - startedAtMs < 5_000) await tick()
    const stalledAfterMs = timers.now() - startedAtMs
    expect(stalledAfterMs).toBeGreaterThanOrEqual(1000)
    await waitUntil(() => quietEvents.closes.length >= 1, { what: 'the quiet relay to be dropped', ...WAIT })
    expect(pingsAnswered).toBeGreaterThanOrEqual(5) // the relay was alive at the WebSocket level all along
    expect(quietEvents.closes[0]!.reason).toMatch(/^stalled: no frame for \d+ ms$/)
    expect(a.stats.lastError).toMatch(/^stalled/)
    timers.advance(quietEvents.closes[0]!.delayMs)
    await waitUntil(() => quiet.connections.length >= 2, { what: 'a reconnect to the quiet relay', ...WAIT })
    while (timers.now() - startedAtMs < 2500) await tick()
    expect(chatty.upgrades).toHaveLength(1)
    expect(b.stats.stalls).toBe(0)
    expect(b.stats.framesReceived).toBeGreaterThan(0)
  })

  it('a message over the size limit: an error log and a counter each time, lastError for health, normal backoff, cleared by the next frame', async () => {
    const random = new SeededRandom(seed)
    const limit = 4096
    let blocked = true
    // The relay resends the oversized message at this cursor every time, until "an operator" unblocks it.
    const s = await server({
      onConnection: (conn) => {
        conn.ws.send(frame(1, random))
        conn.ws.send(blocked ? frame(2, random, limit + 1) : frame(3, random))
      },
    })
    const lines: { level: number; msg: string; cursor?: number }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) })
    const backoff = { initialMs: 20, maxMs: 80 }
    const received: number[] = []
    const timers = new FakeTimers()
    const c = client({ url: s.url, cursor: () => 41, onFrame: (bytes) => received.push(Buffer.from(bytes).readUInt32BE(0)), logger, maxPayloadBytes: limit, backoff, timers })
    const events = record(c)
    c.start()
    for (let i = 0; i < 3; i++) await reconnectAfterClose(events, i, timers)
    await waitUntil(() => events.closes.length === 4, { what: '4 closes', ...WAIT })
    blocked = false
    const errors = lines.filter((line) => line.level === 50)
    expect(c.stats.oversizedMessages).toBeGreaterThanOrEqual(4)
    expect(errors.length).toBe(c.stats.oversizedMessages)
    expect(errors[0]!.msg).toContain(`over the ${limit}-byte limit after cursor 41`)
    expect(errors[0]!.cursor).toBe(41)
    expect(c.stats.lastError).toBe(`relay sent a message over the ${limit}-byte limit after cursor 41`)
    for (const close of events.closes.slice(0, 4)) expect(close.reason).toBe(c.stats.lastError)
    // Not a tight loop: the reconnect delays are the seeded backoff's, growing to maxMs.
    const replica = new Backoff(backoff, new SeededRandom(seed))
    expect(events.closes.slice(0, 4).map((e) => e.delayMs)).toEqual([0, 1, 2, 3].map(() => replica.next()))
    timers.advance(events.closes[3]!.delayMs)
    await waitUntil(() => received.includes(3), { what: 'the frame after the oversized one, once unblocked', ...WAIT })
    expect(c.stats.lastError).toBeNull()
  })

  it('logs a flood of text messages as one line plus a summary with the count', async () => {
    const count = 5_000
    const s = await server({
      onConnection: (conn) => {
        for (let i = 0; i < count; i++) conn.ws.send(`text ${i}`)
        conn.ws.send(Buffer.from([1, 2, 3]))
      },
    })
    const lines: { msg: string; suppressed?: Record<string, number> }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) })
    let frames = 0
    const c = client({ url: s.url, cursor: () => null, onFrame: () => frames++, logger })
    c.start()
    await waitUntil(() => frames === 1, { what: 'the binary frame after the text flood', ...WAIT })
    await c.close()
    expect(c.stats.textMessagesIgnored).toBe(count)
    const textLines = lines.filter((line) => line.msg.includes('text message') || line.suppressed !== undefined)
    expect(textLines).toHaveLength(2)
    expect(textLines[1]!.suppressed).toEqual({ 'text-message': count - 1 })
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
    const timers = new FakeTimers()
    const c = client({
      url: s.url,
      cursor: () => null,
      onFrame: (bytes) => received.push(Buffer.from(bytes).readUInt32BE(0)),
      stallTimeoutMs: 700,
      pingIntervalMs: 50,
      timers,
    })
    c.pause() // before start: applied as soon as the socket opens
    expect(c.stats.paused).toBe(true)
    c.start()
    await sendingDone
    await waitUntil(() => c.stats.connects === 1, { what: 'open', ...WAIT })
    // Longer than the stall timeout: a paused socket must not count as a stalled relay.
    timers.advance(1500)
    await ioTurns()
    expect(maxBuffered).toBeGreaterThanOrEqual(threshold)
    expect(received.length).toBeLessThan(sent)
    const receivedWhilePaused = received.length
    // The kernel buffers are full: a socket that was being read would deliver frames in these turns.
    await ioTurns()
    expect(received.length).toBe(receivedWhilePaused)
    c.resume()
    expect(c.stats.paused).toBe(false)
    await waitUntil(() => received.length === sent, { what: `all ${sent} frames after resume`, ...WAIT }).catch((err: unknown) => {
      throw new Error(`${String(err)} (got ${received.length}, stats ${JSON.stringify(c.stats)})`, { cause: err })
    })
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
    const timers = new FakeTimers()
    const c = client({ url: s.url, cursor: () => 42, onFrame: () => {}, backoff: { initialMs: 10, maxMs: 20 }, timers })
    const events = record(c)
    c.start()
    await waitUntil(() => events.closes.length === 1, { what: 'the first refused handshake', ...WAIT })
    // The next attempt waits the whole Retry-After, not a millisecond less.
    timers.advance(999)
    expect(c.stats.reconnects).toBe(0)
    timers.advance(1)
    expect(c.stats.reconnects).toBe(1)
    await reconnectAfterClose(events, 1, timers)
    await reconnectAfterClose(events, 2, timers)
    await waitUntil(() => events.opens.length === 1, { what: 'the accepted connection', ...WAIT })
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
    const timers = new FakeTimers()
    const c = client({ url: s.url, cursor: () => null, onFrame: () => frames++, backoff: { initialMs: 5, maxMs: 10 }, timers })
    const events = record(c)
    c.start()
    await waitUntil(() => frames >= 5, { what: '5 frames', ...WAIT })
    c.pause()
    await c.close()
    const framesAtClose = frames
    const closeCodes: number[] = []
    s.connections[0]!.ws.on('close', (code) => closeCodes.push(code))
    await waitUntil(() => s.connections[0]!.ws.readyState === s.connections[0]!.ws.CLOSED, { what: 'server side closed', ...WAIT })
    timers.advance(1000) // far past any backoff delay
    expect(frames).toBe(framesAtClose)
    expect(c.stats.reconnects).toBe(0)
    expect(s.upgrades).toHaveLength(1)
    expect(events.closes.at(-1)).toMatchObject({ willReconnect: false, code: 1000 })

    // Closed while a reconnect is scheduled: the timer is cancelled.
    const refusing = await server({ onUpgrade: () => ({ refuse: 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1' }) })
    const dTimers = new FakeTimers()
    const d = client({ url: refusing.url, cursor: () => null, onFrame: () => {}, timers: dTimers })
    const dEvents = record(d)
    d.start()
    await waitUntil(() => dEvents.closes.length === 1, { what: 'the refused handshake', ...WAIT })
    await d.close()
    expect(dTimers.pendingCount).toBe(0)
    dTimers.advance(1300) // past the 1 s Retry-After
    expect(d.stats.reconnects).toBe(0)
    expect(refusing.upgrades).toHaveLength(1)
  })

  it('close() does not hang on a relay that never answers the close frame', async () => {
    const s = await server({ onConnection: (conn) => conn.ws.pause() })
    const timers = new FakeTimers()
    const c = client({ url: s.url, cursor: () => null, onFrame: () => {}, timers })
    const events = record(c)
    c.start()
    await waitUntil(() => events.opens.length === 1, { what: 'open', ...WAIT })
    const closing = c.close()
    timers.advance(1000) // the close grace: the relay never answers
    await closing
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
    await waitUntil(() => events.closes.length >= 2, { what: 'two closes', ...WAIT })
    await c.close()
    expect(lines.length).toBeGreaterThan(3)
    expect(lines.join('\n')).not.toContain('hunter2')
    expect(events.opens[0]!.url).not.toContain('hunter2')
  })
})

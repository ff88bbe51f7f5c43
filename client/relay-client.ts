import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import WebSocket from 'ws'
import { LogAggregator } from '../common/log-aggregator.js'
import { redactUrl, silentLogger, type Logger } from '../common/logger.js'
import { SeededRandom } from '../common/random.js'
import { Backoff } from '../common/backoff.js'
import { nowUs } from './clock.js'
import { parseRetryAfter } from './retry-after.js'
import { systemTimers, type TimerHandle, type Timers } from '../common/timers.js'

export interface RelayClientOptions {
  /** Full ws(s)://.../xrpc/com.atproto.sync.subscribeRepos URL. */
  url: string
  /** Asked at every (re)connect; null => live tail. */
  cursor: () => number | null
  /** The sink; called in socket order with the message bytes exactly as received. */
  onFrame: (bytes: Uint8Array, receivedAtUs: number) => void
  logger?: Logger
  /**
   * No binary frame for this long => reconnect (default 30_000). Pongs and text messages do not
   * count: a relay that answers pings but sends nothing is stalled.
   */
  stallTimeoutMs?: number
  /** Keep-alive pings for proxies and NATs (default 10_000); they do not count as life. */
  pingIntervalMs?: number
  /** Default 1000 / 30000 / 60000, full jitter. */
  backoff?: { initialMs?: number; maxMs?: number; stableMs?: number }
  /** ws hard cap (default 16 MiB); the codec enforces the 5 MB frame limit. A larger message ends the connection (see docs/relay-client.md). */
  maxPayloadBytes?: number
  /** Jitter source. */
  random?: SeededRandom
  /** Clock and timers of the backoff, liveness and close grace (default: the process' own; tests pass a fake). */
  timers?: Timers
}

export interface RelayOpenEvent {
  url: string
  cursor: number | null
}
export interface RelayCloseEvent {
  code: number
  reason: string
  willReconnect: boolean
  delayMs: number
}
export interface RelayHandshakeErrorEvent {
  status: number
  retryAfterMs: number | null
}

export interface RelayClientStats {
  connects: number
  reconnects: number
  framesReceived: number
  bytesReceived: number
  lastFrameAtMs: number | null
  paused: boolean
  /** Text messages received and ignored (the firehose only sends binary frames). */
  textMessagesIgnored: number
  /** Connections ended by the relay because it sent no frame for stallTimeoutMs. */
  stalls: number
  /** Messages above maxPayloadBytes: each one ends the connection (ws closes with 1009). */
  oversizedMessages: number
  /**
   * Why the last connection ended abnormally (stall, oversized message, refused handshake,
   * socket error); null once a frame arrives again. Health checks report it.
   */
  lastError: string | null
}

/** Statuses where a relay tells us to come back later; their Retry-After is honoured. */
const RETRYABLE_HANDSHAKE_STATUSES = new Set([429, 502, 503])
const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024
/** A busy machine can take seconds to complete a handshake; short stall timeouts must not abort it. */
const MIN_HANDSHAKE_TIMEOUT_MS = 10_000
/** How long a polite close may wait for the relay's close frame before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000

/**
 * The relay WebSocket lifecycle, shared by the ingestor and the recorder: connect from cursor(),
 * hand every binary message to onFrame in order, reconnect with jittered backoff, detect stalls,
 * and pause the socket for TCP backpressure. Upstream misbehaviour never throws; it becomes a
 * log line, an event and a reconnect.
 */
export class RelayClient extends EventEmitter {
  private readonly url: string
  private readonly options: RelayClientOptions
  private readonly logger: Logger
  private readonly stallTimeoutMs: number
  private readonly pingIntervalMs: number
  private readonly maxPayload: number
  private readonly backoff: Backoff
  private readonly warnings: LogAggregator
  private readonly timers: Timers
  private readonly counters: Omit<RelayClientStats, 'paused'> = {
    connects: 0,
    reconnects: 0,
    framesReceived: 0,
    bytesReceived: 0,
    lastFrameAtMs: null,
    textMessagesIgnored: 0,
    stalls: 0,
    oversizedMessages: 0,
    lastError: null,
  }

  private started = false
  private closed = false
  private paused = false
  private attempts = 0
  private ws: WebSocket | null = null
  private openedAtMs: number | null = null
  /** Last binary frame (or connect, or resume): the stall timer's base. */
  private lastFrameMs = 0
  private lastPingMs = 0
  /** Why we dropped the current socket ourselves (stall, reconnect(reason)); reported on close. */
  private dropReason: string | null = null
  /** Set by a refused handshake; used instead of the backoff delay for the next attempt. */
  private retryAfterMs: number | null = null
  private retryTimer: TimerHandle | null = null
  private livenessTimer: TimerHandle | null = null
  private closeGraceTimer: TimerHandle | null = null
  private closeWaiters: (() => void)[] = []

  constructor(options: RelayClientOptions) {
    super()
    this.options = options
    this.url = options.url
    this.logger = (options.logger ?? silentLogger).child({ component: 'relay-client' })
    this.stallTimeoutMs = options.stallTimeoutMs ?? 30_000
    this.pingIntervalMs = options.pingIntervalMs ?? 10_000
    this.maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD
    this.backoff = new Backoff(options.backoff, options.random)
    this.warnings = new LogAggregator(this.logger, 'repeated relay warnings')
    this.timers = options.timers ?? systemTimers
  }

  get stats(): RelayClientStats {
    return { ...this.counters, paused: this.paused }
  }

  start(): void {
    if (this.started || this.closed) return
    this.started = true
    this.connect()
  }

  pause(): void {
    if (this.paused) return
    this.paused = true
    // While CONNECTING ws ignores pause(); the open handler applies it instead.
    this.ws?.pause()
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    // Time spent paused is not silence from the relay.
    this.lastFrameMs = this.timers.now()
    this.ws?.resume()
  }

  reconnect(reason: string): void {
    if (this.closed || this.ws === null) return // not connected: a connect is already scheduled
    this.dropSocket(reason)
  }

  close(): Promise<void> {
    this.closed = true
    this.clearRetryTimer()
    this.stopLiveness()
    this.warnings.close()
    const ws = this.ws
    if (ws === null) return Promise.resolve()
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve)
      // A paused socket could not read the relay's close frame; nothing is delivered any more.
      ws.resume()
      ws.close(1000, 'client closing')
      // A relay that never answers the close frame is cut off (ws alone would wait 30 s).
      this.closeGraceTimer ??= this.timers.setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
    })
  }

  private connect(): void {
    this.retryTimer = null
    if (this.closed) return
    const cursor = this.options.cursor()
    const url = urlWithCursor(this.url, cursor)
    if (this.attempts++ > 0) this.counters.reconnects++
    this.retryAfterMs = null
    this.dropReason = null
    this.logger.debug({ url: redactUrl(url), cursor }, 'connecting')
    const ws = new WebSocket(url, {
      maxPayload: this.maxPayload,
      handshakeTimeout: Math.max(this.stallTimeoutMs, MIN_HANDSHAKE_TIMEOUT_MS),
      perMessageDeflate: false,
    })
    this.ws = ws
    ws.on('open', () => this.onOpen(ws, url, cursor))
    ws.on('message', (data, isBinary) => this.onMessage(ws, data, isBinary))
    ws.on('unexpected-response', (_req, res) => this.onUnexpectedResponse(ws, res))
    ws.on('error', (err) => this.onSocketError(ws, err))
    ws.on('close', (code, reason) => this.onSocketClose(ws, code, reason.toString()))
  }

  private onOpen(ws: WebSocket, url: string, cursor: number | null): void {
    if (ws !== this.ws) return
    this.counters.connects++
    this.openedAtMs = this.timers.now()
    this.lastFrameMs = this.openedAtMs
    this.lastPingMs = this.openedAtMs
    if (this.paused) ws.pause()
    this.startLiveness(ws)
    const event: RelayOpenEvent = { url: redactUrl(url), cursor }
    this.logger.info(event, 'relay connected')
    this.emit('open', event)
  }

  private onMessage(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    if (ws !== this.ws || this.closed) return
    if (!isBinary) {
      this.counters.textMessagesIgnored++
      this.warnings.warn('text-message', { length: rawLength(data) }, 'ignoring a text message from the relay')
      return
    }
    // binaryType is the default 'nodebuffer', so binary messages arrive as one Buffer.
    const bytes = data as Buffer
    const now = this.timers.now()
    this.lastFrameMs = now
    this.counters.lastError = null
    this.counters.framesReceived++
    this.counters.bytesReceived += bytes.length
    this.counters.lastFrameAtMs = now
    this.options.onFrame(bytes, nowUs())
  }

  private onUnexpectedResponse(ws: WebSocket, res: IncomingMessage): void {
    const status = res.statusCode ?? 0
    const retryAfterMs = RETRYABLE_HANDSHAKE_STATUSES.has(status) ? parseRetryAfter(res.headers['retry-after']) : null
    res.resume() // discard the body
    if (ws !== this.ws) return
    this.retryAfterMs = retryAfterMs
    this.dropReason = `handshake refused: HTTP ${status}`
    this.counters.lastError = this.dropReason
    const event: RelayHandshakeErrorEvent = { status, retryAfterMs }
    this.logger.warn({ ...event, url: redactUrl(this.url) }, 'relay refused the WebSocket handshake')
    this.emit('handshake-error', event)
    ws.terminate()
  }

  private onSocketClose(ws: WebSocket, code: number, wsReason: string): void {
    if (ws !== this.ws) return
    this.ws = null
    this.stopLiveness()
    const connectedMs = this.openedAtMs === null ? 0 : this.timers.now() - this.openedAtMs
    this.openedAtMs = null
    const reason = this.dropReason ?? wsReason
    if (this.closed) {
      this.clearCloseGraceTimer()
      const event: RelayCloseEvent = { code, reason, willReconnect: false, delayMs: 0 }
      this.logger.info(event, 'relay connection closed')
      this.emit('close', event)
      for (const resolve of this.closeWaiters.splice(0)) resolve()
      return
    }
    this.backoff.noteConnectionLasted(connectedMs)
    const drawnMs = this.backoff.next()
    const delayMs = this.retryAfterMs ?? drawnMs
    const event: RelayCloseEvent = { code, reason, willReconnect: true, delayMs }
    this.logger.warn({ ...event, connectedMs, attempt: this.backoff.attempts }, 'relay connection lost; reconnecting')
    this.emit('close', event)
    if (this.closed) return // a close listener may have closed us
    this.retryTimer = this.timers.setTimeout(() => this.connect(), delayMs)
  }

  /**
   * ws reports a message above maxPayload as an error and closes the socket (1009 to the relay,
   * 1006 here). A relay resends the same frame at the same cursor, so this repeats on every
   * reconnect until an operator acts: logged as an error each time, counted, and kept in
   * lastError for health checks; the reconnect uses the normal backoff.
   */
  private onSocketError(ws: WebSocket, err: Error): void {
    if (ws !== this.ws) return
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      // Where a reconnect resumes: the message is the one right after it.
      const cursor = this.options.cursor()
      this.counters.oversizedMessages++
      this.dropReason = `relay sent a message over the ${this.maxPayload}-byte limit after cursor ${cursor ?? 'none (live)'}`
      this.counters.lastError = this.dropReason
      this.logger.error(
        { cursor, maxPayloadBytes: this.maxPayload, oversizedMessages: this.counters.oversizedMessages },
        `${this.dropReason}: reconnecting; a relay resends it at this cursor, so ingestion is blocked until the limit is raised or the cursor moved`,
      )
      return
    }
    this.counters.lastError = `socket error: ${err.message}`
    this.logger.warn({ err: { message: err.message, code } }, 'relay socket error')
  }

  private dropSocket(reason: string): void {
    const ws = this.ws
    if (ws === null) return
    this.dropReason = reason
    this.logger.info({ reason }, 'dropping relay connection')
    ws.terminate()
  }

  private startLiveness(ws: WebSocket): void {
    this.stopLiveness()
    // Check often enough that a stall is noticed within ~25% of stallTimeoutMs.
    const tickMs = Math.max(10, Math.floor(Math.min(this.pingIntervalMs, this.stallTimeoutMs) / 4))
    const tick = (): void => {
      this.livenessTimer = this.timers.setTimeout(tick, tickMs)
      this.checkLiveness(ws)
    }
    this.livenessTimer = this.timers.setTimeout(tick, tickMs)
  }

  private checkLiveness(ws: WebSocket): void {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return
    const now = this.timers.now()
    // A paused socket reads nothing: silence is ours, not the relay's.
    if (this.paused) {
      this.lastFrameMs = now
      return
    }
    if (now - this.lastFrameMs >= this.stallTimeoutMs) {
      this.counters.stalls++
      this.counters.lastError = `stalled: no frame for ${now - this.lastFrameMs} ms`
      this.dropSocket(this.counters.lastError)
      return
    }
    if (now - this.lastPingMs >= this.pingIntervalMs) {
      this.lastPingMs = now
      ws.ping()
    }
  }

  private stopLiveness(): void {
    if (this.livenessTimer !== null) this.timers.clearTimeout(this.livenessTimer)
    this.livenessTimer = null
  }

  private clearRetryTimer(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer)
    this.retryTimer = null
  }

  private clearCloseGraceTimer(): void {
    if (this.closeGraceTimer !== null) this.timers.clearTimeout(this.closeGraceTimer)
    this.closeGraceTimer = null
  }
}

/** The relay URL with `cursor` set (or removed for a live tail). */
export function urlWithCursor(url: string, cursor: number | null): string {
  const parsed = new URL(url)
  if (cursor === null) parsed.searchParams.delete('cursor')
  else parsed.searchParams.set('cursor', String(cursor))
  return parsed.toString()
}

function rawLength(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0)
  return data.byteLength
}

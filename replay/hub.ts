import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { LogAggregator } from '../common/log-aggregator.js'
import type { Logger } from '../common/logger.js'
import type { SeededRandom } from '../common/random.js'
import { ClientSession, type SessionHost } from './client-session.js'
import { infoFrame } from './control-frames.js'
import { OUTDATED_CURSOR_MESSAGE, parseCursorParam, planCursor, type CursorParam } from './cursor.js'
import type { FaultSpec } from './faults.js'
import type { TimelineHost } from './timeline.js'
import { SUBSCRIBE_PATH, type ClientStatus, type ReplayStatus } from './types.js'
import type { RetainedWindow } from './window.js'

/** Closed clients kept for status; older ones are forgotten (bounded). */
const MAX_CLOSED_CLIENTS = 1_000
/** ws-level cap on what a client may send us (clients send nothing but control frames). */
const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
/** `#info` name sent to a client that subscribes after the timeline finished and would get nothing. */
export const REPLAY_FINISHED_INFO = 'ReplayFinished'

export interface HubOptions {
  window: RetainedWindow
  outbox: number
  stuckAfterMs: number
  /** Connected clients at most; an upgrade beyond is refused with 503 (each client may hold 512 KiB of unsent frames). */
  maxClients: number
  relayQuirks: boolean
  random: SeededRandom
  logger: Logger
  framesPublished: () => number
  /** The fixture has been played to the end (never with --loop). */
  finished: () => boolean
  /** A client subscribed successfully (for --start first-client). */
  onSubscribed: () => void
  onProgress: () => void
}

interface Refusal {
  status: number
  retryAfterSec: number
  left: number
}

/**
 * All subscribers: accepts upgrades (applying handshake faults and cursor rules), owns the
 * sessions, fans out publish notifications and faults, and answers the timeline's max-mode
 * question "how much room do clients have".
 */
export class ReplayHub implements SessionHost, TimelineHost {
  readonly window: RetainedWindow
  readonly outbox: number
  readonly stuckAfterMs: number
  readonly random: SeededRandom
  readonly logger: Logger
  readonly handshakesRefused: ReplayStatus['handshakesRefused'] = []

  private readonly wss = new WebSocketServer({ noServer: true, autoPong: false, perMessageDeflate: false, maxPayload: MAX_CLIENT_MESSAGE_BYTES })
  private readonly live = new Map<number, ClientSession>()
  private closedClients: ClientStatus[] = []
  private refusals: Refusal[] = []
  private nextId = 1
  private refusedAtCap = 0
  /** A client retrying against a full server would log a line per attempt. */
  private readonly refusedWarnings: LogAggregator
  /** Max mode keeps every client at most this many frames behind, well inside its outbox. */
  private readonly maxModeLag: number

  constructor(private readonly options: HubOptions) {
    this.window = options.window
    this.outbox = options.outbox
    this.stuckAfterMs = options.stuckAfterMs
    this.random = options.random
    this.logger = options.logger
    this.maxModeLag = Math.max(1, Math.floor(options.outbox / 2))
    this.refusedWarnings = new LogAggregator(options.logger, 'repeated subscriptions refused')
  }

  /** Upgrades refused because maxClients were connected. */
  get clientsRefused(): number {
    return this.refusedAtCap
  }

  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://replay.invalid')
    if (url.pathname !== SUBSCRIBE_PATH) {
      rejectUpgrade(socket, 404, { error: 'NotFound', message: `no WebSocket endpoint at ${url.pathname}` })
      return
    }
    // Before the handshake faults: a refused client must not use up a refuse-handshake count.
    if (this.live.size >= this.options.maxClients) {
      this.refusedAtCap++
      const message = `replay serves at most ${this.options.maxClients} clients at once (--max-clients); try again when one leaves`
      this.refusedWarnings.warn('max-clients', { maxClients: this.options.maxClients, remote: req.socket.remoteAddress, refused: this.refusedAtCap }, 'subscription refused: too many clients')
      rejectUpgrade(socket, 503, { error: 'TooManyClients', message })
      return
    }
    const refusal = this.refusals[0]
    if (refusal !== undefined) {
      if (--refusal.left === 0) this.refusals.shift()
      this.handshakesRefused.push({ atFrame: this.options.framesPublished(), status: refusal.status, retryAfterSec: refusal.retryAfterSec })
      this.logger.info({ status: refusal.status }, 'fault: handshake refused')
      rejectUpgrade(socket, refusal.status, { error: 'Unavailable', message: 'replay fault: handshake refused' }, { 'Retry-After': String(refusal.retryAfterSec) })
      return
    }
    const cursor = parseCursorParam(url.searchParams)
    if (cursor.kind === 'invalid' && this.options.relayQuirks) {
      rejectUpgrade(socket, 400, { error: 'InvalidRequest', message: `invalid cursor ${JSON.stringify(cursor.raw)}` })
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, socket, req, cursor))
  }

  /** The next `count` upgrades are refused with this HTTP status (refuse-handshake fault). */
  refuseHandshakes(spec: FaultSpec): void {
    this.refusals.push({ status: spec.status ?? 503, retryAfterSec: spec.retryAfterSec ?? 1, left: spec.count ?? 1 })
  }

  /** Arms a client fault on every targeted connected client; `frames`: the #sync frames of a sync-reset or sync-storm. */
  armFault(spec: FaultSpec, applyAt: number | undefined, frames?: readonly Uint8Array[]): void {
    for (const session of this.live.values()) {
      if (spec.client === undefined || spec.client === session.id) session.arm(spec, applyAt, frames)
    }
  }

  published(): void {
    for (const session of this.live.values()) session.published()
  }

  /** A stuck client is not waited for: the timeline goes on and its outbox overflows. */
  room(): number {
    let room = Number.POSITIVE_INFINITY
    for (const session of this.live.values()) {
      if (session.active && !session.stuck) room = Math.min(room, this.maxModeLag - session.owed)
    }
    return room
  }

  onProgress(): void {
    this.options.onProgress()
  }

  onClosed(session: ClientSession): void {
    this.live.delete(session.id)
    this.closedClients.push(session.status())
    if (this.closedClients.length > MAX_CLOSED_CLIENTS) this.closedClients = this.closedClients.slice(-MAX_CLOSED_CLIENTS)
    this.options.onProgress() // a stuck client leaving may free the max-mode timeline
  }

  clients(): ClientStatus[] {
    const all = [...this.closedClients, ...[...this.live.values()].map((session) => session.status())]
    return all.sort((a, b) => a.id - b.id)
  }

  heartbeat(): void {
    for (const session of this.live.values()) session.heartbeat()
  }

  /** Closes every client with 1001, terminating those that have not finished closing within `graceMs`. */
  async close(graceMs = 1_000): Promise<void> {
    const sessions = [...this.live.values()]
    for (const session of sessions) session.shutdown()
    const deadline = Date.now() + graceMs
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    for (const session of this.live.values()) session.terminate()
    this.wss.close()
    this.refusedWarnings.close()
  }

  private attach(ws: WebSocket, socket: Duplex, req: IncomingMessage, cursor: CursorParam): void {
    const id = this.nextId++
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`
    const session = new ClientSession(id, remote, cursor.kind === 'value' ? cursor.value : null, ws, socket, this)
    this.live.set(id, session)
    const plan = planCursor(cursor, this.window, this.options.relayQuirks)
    this.logger.info({ client: id, remote, cursor: cursor.kind === 'value' ? cursor.value : cursor.kind, plan: plan.kind }, 'client subscribed')
    switch (plan.kind) {
      case 'reject':
        session.fail(plan.error, plan.message)
        return
      case 'live':
        // Only a client that asked for no cursor: one with a cursor got the past it asked for,
        // and a future cursor under --relay-quirks must go live as silently as a Go relay does.
        session.start(this.window.headIndex, cursor.kind === 'value' ? [] : this.finishedHint(id))
        break
      case 'backlog':
        session.start(plan.from, plan.outdated && !this.options.relayQuirks ? [infoFrame('OutdatedCursor', OUTDATED_CURSOR_MESSAGE)] : [])
        break
    }
    this.options.onSubscribed()
  }

  /**
   * A relay never ends, a replay does: a client joining the live tail of a finished timeline
   * would wait forever for nothing (typically `--start now` played the fixture before the client
   * connected). Say so in the server log and, as an #info frame, to the client.
   */
  private finishedHint(id: number): Uint8Array[] {
    if (!this.options.finished()) return []
    const message =
      `replay finished: all ${this.options.framesPublished()} frames were published before this client connected, so it gets nothing; ` +
      `reconnect with cursor=0 for the retained window (${this.window.size} frames), or run the replay with --start first-client or --loop`
    this.logger.warn({ client: id }, message)
    return [infoFrame(REPLAY_FINISHED_INFO, message)]
  }
}

function rejectUpgrade(socket: Duplex, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  socket.on('error', () => {}) // the client may already be gone; nothing to report
  const json = JSON.stringify(body)
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(json)}`,
    'Connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ]
  socket.end(`${lines.join('\r\n')}\r\n\r\n${json}`)
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
}

import type { Duplex } from 'node:stream'
import { WebSocket } from 'ws'
import type { Logger } from '../common/logger.js'
import type { SeededRandom } from '../common/random.js'
import { errorFrame, infoFrame, oversizeFrame, unknownTypeFrame } from './control-frames.js'
import { DEFAULT_OVERSIZE_BYTES, type FaultSpec } from './faults.js'
import { RepoFaultLane, type LaneInsert } from './repo-fault-lane.js'
import { withSeq } from './seq-field.js'
import type { ClientStatus, FaultRecord } from './types.js'
import type { RetainedWindow } from './window.js'

/**
 * Per-client write budget: frames are handed to the socket until this many bytes wait in
 * user space, then the session waits for 'drain'. Bounds each client's send buffer.
 */
const SOCKET_HIGH_WATER_BYTES = 512 * 1024
const DEFAULT_STALL_MS = 5_000
const DEFAULT_GARBAGE_BYTES = 64

export interface SessionHost {
  readonly window: RetainedWindow
  /** Max frames a client may owe (published after it went live, not yet sent) before ConsumerTooSlow. */
  readonly outbox: number
  /** A socket that has not drained for this long is stuck (see ClientSession.stuck). */
  readonly stuckAfterMs: number
  readonly random: SeededRandom
  readonly logger: Logger
  /** A client sent frames, got stuck or is ending: the timeline may be waiting for room (max mode). */
  onProgress(): void
  onClosed(session: ClientSession): void
}

interface ArmedFault {
  spec: FaultSpec
  /** Applied when the client's position reaches this window index. */
  applyAt: number
  /** The frames a sync-reset or sync-storm sends (made once for every client). */
  frames?: readonly Uint8Array[]
}

/** A fault that rewrites or drops the next `left` recorded frames. */
interface FrameTransform {
  spec: FaultSpec
  record: FaultRecord
  left: number
}

/**
 * One subscriber: a position in the retained window plus its fault state. Sends recorded
 * frames byte-for-byte, in order, as fast as its socket drains (bounded by
 * SOCKET_HIGH_WATER_BYTES); a client owing more than `outbox` frames, or whose next frame was
 * evicted from the window, gets ConsumerTooSlow and is closed, like the relay does.
 */
export class ClientSession {
  framesSent = 0
  lastSeqSent: number | null = null
  connected = true
  closeCode: number | null = null
  closeReason: string | null = null
  readonly faults: FaultRecord[] = []
  /**
   * Its socket has waited for 'drain' for `stuckAfterMs`: the peer takes less than one send
   * buffer (SOCKET_HIGH_WATER_BYTES) in that time. Max mode stops pacing the timeline to a
   * stuck client, so its outbox overflows and it gets ConsumerTooSlow like on a relay.
   * Cleared when the socket drains.
   */
  stuck = false

  private position = 0
  /** Window head when the client went live; frames before it are backlog, not outbox debt. */
  private liveFrom = 0
  private started = false
  private ending = false
  private armed: ArmedFault[] = []
  private transforms: FrameTransform[] = []
  /**
   * Messages a fault inserts (garbage, duplicates), produced one at a time as the socket drains,
   * so a fault of 100,000 messages costs one send buffer, not 100,000 messages of memory.
   */
  private inserts: Iterator<Uint8Array>[] = []
  /** Highest seq sent (the next inserted frame's seq follows it). */
  private highSeqSent: number | null = null
  /** Repo faults, and the seqs of the frames they insert. */
  private readonly lane = new RepoFaultLane(
    () => this.highSeqSent,
    () => (this.position < this.host.window.headIndex ? this.host.window.seqAt(this.position) : undefined),
  )
  private stalledUntil = 0
  private stallTimer: NodeJS.Timeout | null = null
  private waitingForDrain = false
  private stuckCheckDueAt = 0
  private stuckTimer: NodeJS.Timeout | null = null
  private awaitingPong = false

  constructor(
    readonly id: number,
    readonly remote: string,
    readonly cursorAsked: number | null,
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly host: SessionHost,
  ) {
    ws.on('close', (code, reason) => {
      this.connected = false
      this.closeCode ??= code
      this.closeReason ??= reason.toString()
      if (this.stallTimer !== null) clearTimeout(this.stallTimer)
      if (this.stuckTimer !== null) clearTimeout(this.stuckTimer)
      host.onClosed(this)
    })
    ws.on('error', (err) => host.logger.debug({ client: id, err }, 'client socket error'))
    ws.on('pong', () => (this.awaitingPong = false))
    ws.on('ping', (data) => {
      if (!this.stalled && ws.readyState === WebSocket.OPEN) ws.pong(data)
    })
  }

  /** Frames published while the client is live and not yet sent. */
  get owed(): number {
    return Math.max(0, this.host.window.headIndex - Math.max(this.position, this.liveFrom))
  }

  get active(): boolean {
    return this.connected && !this.ending
  }

  private get stalled(): boolean {
    return this.stalledUntil > performance.now()
  }

  /** Begins streaming from window index `from` after sending `preamble` (e.g. an OutdatedCursor info frame). */
  start(from: number, preamble: Uint8Array[] = []): void {
    this.position = from
    this.liveFrom = this.host.window.headIndex
    this.started = true
    for (const frame of preamble) this.write(frame)
    this.pump()
  }

  /** Sends an error frame and closes with 1008 and the error name, as @atproto/xrpc-server does. */
  fail(error: string, message: string): void {
    if (this.ending) return
    this.write(errorFrame(error, message))
    this.closeWith(1008, error)
  }

  /** Arms a fault for this client: applied when its position reaches `applyAt` (default: its next frame). */
  arm(spec: FaultSpec, applyAt?: number, frames?: readonly Uint8Array[]): void {
    if (!this.active) return
    const fault: ArmedFault = { spec, applyAt: applyAt ?? this.position, frames }
    const at = this.armed.findIndex((other) => other.applyAt > fault.applyAt)
    if (at < 0) this.armed.push(fault)
    else this.armed.splice(at, 0, fault)
    this.pump()
  }

  /** New frames were published: enforce the outbox bound, then send what the socket takes. */
  published(): void {
    if (!this.active || !this.started) return
    if (!this.stalled && this.owed > this.host.outbox) {
      this.tooSlow(`owes ${this.owed} frames, outbox holds ${this.host.outbox}`)
      return
    }
    this.pump()
  }

  /** Server heartbeat: a client that did not answer the previous ping is dropped. */
  heartbeat(): void {
    if (!this.active || this.stalled) return
    if (this.awaitingPong) {
      this.closeReason = 'no pong'
      this.ending = true
      this.ws.terminate()
      return
    }
    this.awaitingPong = true
    this.ws.ping()
  }

  /** Ends the session from the server side (replay shutting down). */
  shutdown(): void {
    if (!this.connected) return
    if (!this.ending) this.closeWith(1001, 'replay server shutting down')
  }

  terminate(): void {
    if (this.connected) this.ws.terminate()
  }

  status(): ClientStatus {
    return {
      id: this.id,
      remote: this.remote,
      connected: this.connected,
      cursorAsked: this.cursorAsked,
      framesSent: this.framesSent,
      lastSeqSent: this.lastSeqSent,
      faults: this.faults.map((fault) => ({ ...fault, seqs: [...fault.seqs] })),
      waitingForDrain: this.connected && this.waitingForDrain,
      closeCode: this.closeCode,
      closeReason: this.closeReason,
    }
  }

  pump(): void {
    if (!this.started || !this.active || this.stalled || this.waitingForDrain) return
    const window = this.host.window
    let sent = 0
    for (;;) {
      // Faults apply in order: the next one waits until the messages a previous one inserts are sent.
      while (this.inserts.length === 0 && this.armed.length > 0 && this.armed[0]!.applyAt <= this.position) {
        const next = this.armed.shift()!
        this.apply(next.spec, next.frames)
        if (!this.active || this.stalled) return
      }
      const inserting = this.inserts.length > 0
      if (!inserting && this.position >= window.headIndex) break
      if (!inserting && this.position < window.oldestIndex) {
        this.tooSlow(`its next frame (index ${this.position}) left the retained window`)
        return
      }
      if (this.socket.writableLength >= SOCKET_HIGH_WATER_BYTES && this.socket.writableNeedDrain) {
        this.waitingForDrain = true
        this.socket.once('drain', this.onDrain)
        this.checkStuckAfter(this.host.stuckAfterMs)
        break
      }
      if (inserting) {
        const next = this.inserts[0]!.next()
        if (next.done === true) this.inserts.shift()
        else this.write(next.value)
        continue
      }
      const index = this.position++
      this.sendRecorded(window.bytesAt(index), window.seqAt(index))
      sent++
    }
    if (sent > 0) this.host.onProgress()
  }

  private readonly onDrain = (): void => {
    this.waitingForDrain = false
    this.stuck = false
    if (this.stuckTimer !== null) clearTimeout(this.stuckTimer)
    this.stuckTimer = null
    this.pump()
  }

  /**
   * Stuck = no 'drain' within `ms`. Drains are the progress Node lets us see: while one write
   * is in flight it queues the rest and hands it over as one batch, so the queued byte count
   * falls all at once, every SOCKET_HIGH_WATER_BYTES the peer reads.
   */
  private checkStuckAfter(ms: number): void {
    this.stuckCheckDueAt = performance.now() + ms
    this.stuckTimer = setTimeout(this.checkStuck, ms)
  }

  private readonly checkStuck = (): void => {
    this.stuckTimer = null
    if (!this.waitingForDrain || !this.active) return
    // Fired late: this process was not running (GC, overload) and may not have seen that
    // time's drain yet. That says nothing about the peer: give it another full period.
    if (performance.now() - this.stuckCheckDueAt > this.host.stuckAfterMs / 4) {
      this.checkStuckAfter(this.host.stuckAfterMs)
      return
    }
    this.stuck = true
    this.host.logger.warn({ client: this.id, stuckAfterMs: this.host.stuckAfterMs }, 'client socket not drained; max mode stops waiting for it')
    this.host.onProgress()
  }

  private sendRecorded(bytes: Uint8Array, seq: number | undefined): void {
    if (this.lane.busy) {
      const out = this.lane.recorded(bytes, seq)
      ;({ bytes, seq } = out)
      for (const insert of out.due) this.inserts.push(this.stamped(insert))
    }
    const transform = this.transforms[0]
    let wireSeq = seq
    if (transform !== undefined) {
      if (seq !== undefined) transform.record.seqs.push(seq)
      if (--transform.left === 0) this.transforms.shift()
      switch (transform.spec.kind) {
        case 'swallow':
          return
        case 'truncate':
          bytes = bytes.subarray(0, Math.min(transform.spec.bytes ?? Math.floor(bytes.byteLength / 2), bytes.byteLength - 1))
          wireSeq = undefined
          break
        case 'regress':
          if (seq !== undefined) {
            wireSeq = Math.max(0, (this.lastSeqSent ?? seq) - (transform.spec.by ?? 1))
            bytes = withSeq(bytes, wireSeq)
          }
          break
      }
    }
    this.write(bytes)
    if (wireSeq !== undefined) this.sentSeq(wireSeq)
  }

  private sentSeq(seq: number): void {
    this.lastSeqSent = seq
    if (this.highSeqSent === null || seq > this.highSeqSent) this.highSeqSent = seq
  }

  private apply(spec: FaultSpec, frames?: readonly Uint8Array[]): void {
    const record: FaultRecord = { kind: spec.kind, atFrame: this.framesSent, seqs: [] }
    this.faults.push(record)
    this.host.logger.info({ client: this.id, fault: spec, atFrame: this.framesSent }, 'fault applied')
    switch (spec.kind) {
      case 'drop':
        this.ending = true
        this.closeReason = 'fault: drop'
        this.ws.terminate()
        return
      case 'close':
        this.closeWith(spec.code ?? 1000, spec.reason ?? 'replay fault')
        return
      case 'stall':
        this.stall(spec.durationMs ?? DEFAULT_STALL_MS)
        return
      case 'garbage':
        this.inserts.push(this.garbage(spec.count ?? 1, spec.bytes ?? DEFAULT_GARBAGE_BYTES))
        return
      case 'oversize':
        this.write(oversizeFrame(spec.bytes ?? DEFAULT_OVERSIZE_BYTES))
        return
      case 'unknown-type':
        this.write(unknownTypeFrame(spec.type ?? '#replayUnknown'))
        return
      case 'duplicate':
        this.inserts.push(this.duplicates(this.position - (spec.count ?? 1), this.position, record))
        return
      case 'truncate':
      case 'regress':
      case 'swallow':
        this.transforms.push({ spec, record, left: spec.count ?? 1 })
        return
      case 'error-frame':
        this.write(errorFrame(spec.error ?? 'InvalidRequest', spec.message))
        if (spec.close !== false) this.closeWith(1008, spec.error ?? 'InvalidRequest')
        return
      case 'info':
        this.write(infoFrame(spec.name ?? 'OutdatedCursor', spec.message))
        return
      case 'future-rev':
      case 'rev-regress':
      case 'takedown':
      case 'sync-reset':
      case 'sync-storm': {
        const insert = this.lane.apply(spec, record, frames)
        if (insert !== null) this.inserts.push(this.stamped(insert))
        return
      }
      case 'refuse-handshake':
        return // a server-level fault (see server.ts); never armed on a session
    }
  }

  /** A repo fault's frames, each given its seq as it is sent. */
  private *stamped(insert: LaneInsert): Generator<Uint8Array> {
    for (const frame of insert.frames) {
      const { bytes, seq } = this.lane.stamp(frame)
      insert.record.seqs.push(seq)
      this.sentSeq(seq)
      yield bytes
    }
  }

  private *garbage(count: number, bytes: number): Generator<Uint8Array> {
    for (let i = 0; i < count; i++) yield this.host.random.bytes(bytes)
  }

  /** Window frames [from, to) again; those evicted meanwhile are skipped. */
  private *duplicates(from: number, to: number, record: FaultRecord): Generator<Uint8Array> {
    const window = this.host.window
    for (let index = from; index < to; index++) {
      if (index < window.oldestIndex) continue
      const seq = window.seqAt(index)
      if (seq !== undefined) {
        record.seqs.push(seq)
        this.lastSeqSent = seq
      }
      yield window.bytesAt(index)
    }
  }

  private stall(ms: number): void {
    this.stalledUntil = performance.now() + ms
    if (this.stallTimer !== null) clearTimeout(this.stallTimer)
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null
      this.stalledUntil = 0
      // A server-side stall is not the client's debt: restart the outbox count, keep its position.
      this.liveFrom = this.host.window.headIndex
      this.awaitingPong = false
      this.pump()
    }, ms)
  }

  private tooSlow(why: string): void {
    this.host.logger.warn({ client: this.id, why }, 'consumer too slow; closing')
    this.fail('ConsumerTooSlow', `Stream consumer too slow: ${why}`)
  }

  private closeWith(code: number, reason: string): void {
    this.ending = true
    this.closeCode = code
    this.closeReason = reason
    this.ws.close(code, reason)
    // No longer counted by max mode; its 'close' may come much later (a stuck peer never answers).
    this.host.onProgress()
  }

  private write(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true })
    this.framesSent++
  }
}

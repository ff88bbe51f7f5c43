import type { LogAggregator } from '../common/log-aggregator.js'
import type { Logger } from '../common/logger.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { decodeEvent, type ErrorEvent, type InfoEvent } from '../protocol/events.js'
import { peekFrame } from '../protocol/peek.js'
import { frameDecodes } from './decode-frame.js'
import type { QueuedFrame } from './frame-queue.js'
import type { ResolvedOptions } from './options.js'
import { SeqTracker } from './seq-tracker.js'
import type { IngestorCounters } from './status.js'

/** What the pipeline lets the intake do to the relay connection. */
export interface RelayControl {
  pause(): void
  resume(): void
  reconnect(reason: string): void
}

export interface RelayIntakeParts {
  options: Pick<ResolvedOptions, 'verifyBlocks' | 'onFutureCursor'>
  counters: IngestorCounters
  logger: Logger
  /** Warnings a relay can trigger once per frame: first in full, then counted. */
  warnings: LogAggregator
  relay: RelayControl
  /** A vetted frame, in socket order, to be decoded and written. */
  enqueue: (frame: QueuedFrame) => void
  /** The relay said FutureCursor and the policy is 'exit'. */
  onFutureCursorExit: () => void
  /** FutureCursor with policy 'live' led to a connection in a new seq space. */
  onNewSeqSpace: () => void
  /** A seq accepted into the pipeline (a run that started at the live tail starts just before its first). */
  onAccepted: (seq: number) => void
}

/**
 * The relay side of the pipeline: decides, frame by frame and in socket order, what goes on to
 * be decoded and written. Skips what we have (after a reconnect, a relay's resend), what goes
 * backwards or repeats (counted, warned), trusts a seq that leaps ahead only from a frame that
 * decodes (I15), handles #info and error frames, and says which cursor to connect with.
 */
export class RelayIntake {
  private readonly tracker = new SeqTracker()
  /** After a resync or relay switch, frames still arriving from the dropped connection are ignored. */
  private awaitingConnection = false
  /** FutureCursor with policy 'live': the next connection asks for no cursor. */
  private goLive = false
  /** The first frame of each connection is checked against the cursor we connected with. */
  private firstFrameOfConnection = false

  constructor(private readonly parts: RelayIntakeParts) {}

  /** The highest seq accepted: the next connection's cursor (null: none, the live tail). */
  get position(): number | null {
    return this.tracker.position
  }

  /** True between a resync (or switch) and the next connection. */
  get waitingForConnection(): boolean {
    return this.awaitingConnection
  }

  /** Start, resync or relay switch: accept only what comes after `position`, from the next connection on. */
  resetTo(position: number | null, options: { awaitConnection: boolean; forgetLive?: boolean }): void {
    this.tracker.reset(position)
    if (options.awaitConnection) this.awaitingConnection = true
    if (options.forgetLive === true) this.goLive = false
  }

  /** Frames of the current connection are no longer wanted (a relay switch is under way). */
  ignoreUntilNextConnection(): void {
    this.awaitingConnection = true
  }

  /** The relay client asks this at every (re)connect. */
  cursorForConnect(): number | null {
    return this.goLive ? null : this.tracker.position
  }

  onRelayOpen(): void {
    this.awaitingConnection = false
    this.firstFrameOfConnection = true
    if (this.goLive) {
      this.goLive = false
      this.tracker.reset(null) // a new seq space: accept whatever the relay sends from now on
      this.parts.onNewSeqSpace()
    } else {
      this.tracker.newConnection()
    }
  }

  onFrame(bytes: Uint8Array, receivedAtUs: number): void {
    if (this.awaitingConnection) return
    const { counters, warnings } = this.parts
    counters.framesReceived++
    let peek
    try {
      peek = peekFrame(bytes)
    } catch (err) {
      if (!isFrameDecodeError(err)) throw err // our own bug, not upstream garbage: fail loudly
      this.parts.enqueue({ bytes, seq: undefined, receivedAtUs }) // the decoder names the error; it is dead-lettered
      return
    }
    if (peek.op === -1 || peek.t === '#info') {
      this.handleControlFrame(bytes, receivedAtUs)
      return
    }
    if (peek.seq !== undefined) {
      // A seq that leaps ahead would become our position (and the next connection's cursor), and
      // every frame below it would be skipped: trusted only from a frame that decodes (I15).
      if (this.tracker.wouldLeap(peek.seq) && !frameDecodes(bytes, this.parts.options.verifyBlocks)) {
        counters.untrustedSeqs++
        warnings.warn('untrusted-seq', { seq: peek.seq, position: this.tracker.position }, 'a malformed frame carries a seq ahead of the stream: not trusted (dead-lettered, position unchanged)')
        this.parts.enqueue({ bytes, seq: peek.seq, receivedAtUs }) // the seq goes with the dead letter; a bad frame never moves the cursor
        return
      }
      const position = this.tracker.position
      const verdict = this.tracker.classify(peek.seq)
      const first = this.firstFrameOfConnection
      this.firstFrameOfConnection = false
      switch (verdict) {
        case 'known':
          counters.skippedKnown++
          if (first && position !== null && peek.seq < position) this.noteBelowCursorOnConnect(peek.seq, position)
          return
        case 'backwards':
        case 'repeat':
          if (verdict === 'backwards') counters.skippedBackwards++
          else counters.skippedRepeat++
          warnings.warn(verdict, { seq: peek.seq, position: this.tracker.position }, `relay sent seq ${verdict === 'backwards' ? 'going backwards' : 'twice'}; skipped`)
          return
        case 'jump':
          counters.seqJumps++
          break
        case 'next':
          break
      }
      this.parts.onAccepted(peek.seq)
    }
    this.parts.enqueue({ bytes, seq: peek.seq, receivedAtUs })
  }

  private handleControlFrame(bytes: Uint8Array, receivedAtUs: number): void {
    let event
    try {
      event = decodeEvent(bytes, { verifyBlocks: this.parts.options.verifyBlocks })
    } catch (err) {
      if (!isFrameDecodeError(err)) throw err
      this.parts.enqueue({ bytes, seq: undefined, receivedAtUs }) // malformed control frame: dead-letter it like any other
      return
    }
    if (event.type === 'info') this.handleInfo(event)
    else if (event.type === 'error') this.handleError(event)
  }

  private handleInfo(event: InfoEvent): void {
    const { counters, logger } = this.parts
    counters.infoFrames++
    if (event.name === 'OutdatedCursor') {
      counters.outdatedCursor++
      logger.warn(
        { info: event.name, message: event.message, cursor: this.tracker.position },
        'relay says our cursor is older than its window (OutdatedCursor): events between our cursor and its oldest were lost upstream',
      )
    } else {
      logger.info({ info: event.name, message: event.message }, 'relay info frame')
    }
  }

  private handleError(event: ErrorEvent): void {
    const { counters, logger, relay } = this.parts
    counters.errorFrames++
    const fields = { error: event.error, message: event.message, cursor: this.tracker.position }
    switch (event.error) {
      case 'ConsumerTooSlow':
        counters.consumerTooSlow++
        logger.warn(fields, 'relay dropped us as too slow (ConsumerTooSlow); reconnecting from our cursor')
        relay.reconnect('ConsumerTooSlow')
        return
      case 'FutureCursor':
        counters.futureCursor++
        if (this.parts.options.onFutureCursor === 'exit') {
          logger.error({ ...fields, policy: 'exit' }, 'GAP WARNING: relay says our cursor is in its future (FutureCursor): its seq space is not ours; draining and exiting')
          this.parts.onFutureCursorExit()
        } else {
          logger.error({ ...fields, policy: 'live' }, 'GAP WARNING: relay says our cursor is in its future (FutureCursor): switching to the live tail; events between are not fetched')
          this.goLive = true
          relay.reconnect('FutureCursor: going live')
        }
        return
      default:
        logger.warn(fields, 'relay sent an error frame; it will close the connection and we reconnect')
    }
  }

  /**
   * A relay answers a cursor with events after it (some resend the cursor's own event). One
   * that starts below it has another seq space: Go relays go live silently on a future cursor
   * instead of sending FutureCursor. Skipping is still right (we cannot tell new events from
   * old ones by seq), but an operator must know, or the ingestor will look alive and write nothing.
   */
  private noteBelowCursorOnConnect(seq: number, position: number): void {
    this.parts.counters.belowCursorOnConnect++
    this.parts.logger.error(
      { seq, cursor: position },
      'GAP WARNING: the relay started below our cursor: it may have reset its seqs (Go relays go live silently on a future cursor). ' +
        'Frames at or below our cursor are skipped; if this relay really restarted its seqs, restart the ingestor with --cursor 0 or a new --cursor-key',
    )
  }
}

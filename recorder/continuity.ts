import { decodeFrame } from '../protocol/frame.js'
import { peekFrame } from '../protocol/peek.js'

export interface Gap {
  afterSeq: number
  beforeSeq: number
  note?: string
}

export interface ContinuityCounts {
  /** Frames with seq <= the cursor asked on their connection: already recorded, not written again. */
  duplicatesSkipped: number
  /** Within one connection, seq went backwards or repeated (recorded as received). */
  seqRegressions: number
  /** Within one connection, seq skipped numbers (recorded; relays may leave holes). */
  seqJumps: number
  /** Frames peekFrame could not read (recorded as received; the fixture counts them as 'invalid'). */
  unreadable: number
  /** `#info OutdatedCursor` frames: the relay no longer had events after our cursor. */
  outdatedCursor: number
  errorFrames: Record<string, number>
}

/** An `#info` or error frame (`op: -1`): what the relay tells us rather than an event. */
export interface ControlFrame {
  kind: 'info' | 'error'
  /** The info's `name` or the error's `error` ('unknown' when the body has none). */
  name: string
  message?: string
}

export type Verdict = { record: true; seq: number | undefined; gap: Gap | null; control?: ControlFrame } | { record: false; seq: number }

/**
 * Follows the seq stream across connections: which cursor to resume from, which frames are
 * replays of what is already recorded, and which discontinuities are gaps to report. A gap is
 * only declared where we know events were missed: the first seq after a (re)connect is not the
 * next one after the cursor we asked for, or the relay said OutdatedCursor. Holes inside one
 * connection are the relay's own seq space and are only counted. A cursor of 0 (or below) asks
 * for everything the relay holds, from its start: whatever seq comes first, nothing was missed.
 */
export class Continuity {
  private lastSeq: number | null = null
  private askedCursor: number | null = null
  private awaitingFirst = false
  private outdatedPending = false
  /** After FutureCursor the relay will never serve our cursor: the next connection goes live. */
  private goLive = false
  private liveAfterSeq: number | null = null
  readonly counts: ContinuityCounts = {
    duplicatesSkipped: 0,
    seqRegressions: 0,
    seqJumps: 0,
    unreadable: 0,
    outdatedCursor: 0,
    errorFrames: {},
  }

  constructor(private readonly initialCursor: number | null) {}

  /** Highest seq recorded so far. */
  get seq(): number | null {
    return this.lastSeq
  }

  /** The cursor for the next connection. */
  resumeCursor(): number | null {
    if (this.goLive) return null
    return this.lastSeq ?? this.initialCursor
  }

  /** A connection opened asking for `cursor`. */
  onOpen(cursor: number | null): void {
    if (this.goLive) {
      this.liveAfterSeq = this.lastSeq
      this.goLive = false
    }
    this.askedCursor = cursor
    this.awaitingFirst = true
  }

  /** Classifies one received frame. */
  observe(bytes: Uint8Array): Verdict {
    let peek: ReturnType<typeof peekFrame>
    try {
      peek = peekFrame(bytes)
    } catch {
      this.counts.unreadable++
      return { record: true, seq: undefined, gap: null }
    }
    if (peek.op === -1) return { record: true, seq: undefined, gap: null, control: this.noteError(bytes) }
    if (peek.t === '#info') return { record: true, seq: undefined, gap: null, control: this.noteInfo(bytes) }
    const seq = peek.seq
    if (seq === undefined) return { record: true, seq: undefined, gap: null }
    if (this.askedCursor !== null && seq <= this.askedCursor) {
      this.counts.duplicatesSkipped++
      return { record: false, seq }
    }
    // After FutureCursor the relay's seq space may have restarted: follow it from here.
    const newSeqSpace = this.awaitingFirst && this.askedCursor === null && this.liveAfterSeq !== null
    const gap = this.awaitingFirst ? this.gapBefore(seq) : this.countHole(seq)
    this.awaitingFirst = false
    this.outdatedPending = false
    if (newSeqSpace || this.lastSeq === null || seq > this.lastSeq) this.lastSeq = seq
    return { record: true, seq, gap }
  }

  private gapBefore(seq: number): Gap | null {
    const outdated = this.outdatedPending ? ' (relay sent #info OutdatedCursor)' : ''
    // Cursor 0 asks from the relay's start: its first seq begins the recording, it is not a gap.
    if (this.askedCursor !== null && this.askedCursor > 0 && seq > this.askedCursor + 1) {
      return { afterSeq: this.askedCursor, beforeSeq: seq, note: `asked for events after ${this.askedCursor}, first seq was ${seq}${outdated}` }
    }
    if (this.askedCursor === null && this.liveAfterSeq !== null) {
      const after = this.liveAfterSeq
      this.liveAfterSeq = null
      if (seq !== after + 1) {
        return { afterSeq: after, beforeSeq: seq, note: `relay refused the cursor (FutureCursor); resumed live at seq ${seq}` }
      }
    }
    return null
  }

  private countHole(seq: number): null {
    if (this.lastSeq !== null && seq <= this.lastSeq) this.counts.seqRegressions++
    else if (this.lastSeq !== null && seq > this.lastSeq + 1) this.counts.seqJumps++
    return null
  }

  private noteError(bytes: Uint8Array): ControlFrame {
    const control = controlFrame('error', bytes, 'error')
    this.counts.errorFrames[control.name] = (this.counts.errorFrames[control.name] ?? 0) + 1
    if (control.name === 'FutureCursor') this.goLive = true
    return control
  }

  private noteInfo(bytes: Uint8Array): ControlFrame {
    const control = controlFrame('info', bytes, 'name')
    if (control.name === 'OutdatedCursor') {
      this.counts.outdatedCursor++
      this.outdatedPending = true
    }
    return control
  }
}

/** Name and message of an info or error frame (rare and tiny, so decoding them costs nothing). */
function controlFrame(kind: ControlFrame['kind'], bytes: Uint8Array, nameKey: string): ControlFrame {
  let body: Record<string, unknown> = {}
  try {
    body = decodeFrame(bytes).body
  } catch {
    // peekFrame read the header; a body it cannot decode leaves the name unknown
  }
  const name = body[nameKey]
  const message = body.message
  return { kind, name: typeof name === 'string' ? name : 'unknown', ...(typeof message === 'string' && { message }) }
}

import type { FaultSpec } from './faults.js'
import { accountFrame, futureRev, withCommitRev } from './repo-fault-frames.js'
import { readRepoFrame } from './repo-frame.js'
import { withSeq } from './seq-field.js'
import type { FaultRecord } from './types.js'

/** future-rev's default: an hour ahead, far past the 5 minutes a Sync 1.1 relay tolerates. */
export const DEFAULT_AHEAD_SEC = 3_600

/** Frames a repo fault inserts into one client's stream, and the fault's status record (it lists the seqs they get). */
export interface LaneInsert {
  frames: Iterable<Uint8Array>
  record: FaultRecord
}

/** A fault waiting for the client's next #commit (of its `did` when it names one). */
interface Pending {
  spec: FaultSpec
  record: FaultRecord
}

/** Frames to insert once `left` more recorded frames have gone out. */
interface Delayed {
  left: number
  frames: Uint8Array[]
  record: FaultRecord
}

/**
 * One client's repo faults (future-rev, rev-regress, takedown, and the #sync frames of sync-reset
 * and sync-storm). Inserted frames need seqs of their own, as a relay would give them: each gets
 * the seq after the last one sent, and every later recorded frame goes out with its seq moved up
 * by the number of frames inserted so far (re-encoded, withSeq), so the client sees one
 * increasing sequence. Nothing here runs for a client without such a fault.
 *
 * Memory: one pending entry per fault waiting for its #commit; one held frame per rev-regress
 * (until it is sent again) and per takedown reactivation.
 */
export class RepoFaultLane {
  /** Frames inserted so far: recorded frames go out with seq + shift. */
  private shift = 0
  private pending: Pending[] = []
  private delayed: Delayed[] = []

  /**
   * `highestSent`: the highest seq the client was sent (null before any); `nextRecordedSeq`: the
   * recorded seq of its next frame, if published (an insert before anything was sent takes it).
   */
  constructor(
    private readonly highestSent: () => number | null,
    private readonly nextRecordedSeq: () => number | undefined,
  ) {}

  /** Whether recorded frames must go through `recorded`. */
  get busy(): boolean {
    return this.shift > 0 || this.pending.length > 0 || this.delayed.length > 0
  }

  /** Applies a repo fault; returns what it inserts at once (takedown's #account, the #sync frames it is given). */
  apply(spec: FaultSpec, record: FaultRecord, frames: readonly Uint8Array[] = []): LaneInsert | null {
    switch (spec.kind) {
      case 'future-rev':
      case 'rev-regress':
        this.pending.push({ spec, record })
        return null
      case 'takedown':
        if (spec.reactivateAfterFrames !== undefined) this.delayed.push({ left: spec.reactivateAfterFrames, frames: [accountFrame(spec.did!, true)], record })
        return { frames: [accountFrame(spec.did!, false, 'takendown')], record }
      default:
        return { frames, record }
    }
  }

  /** A recorded frame as this client gets it (seq moved up, a pending rewrite applied), and the inserts that fall due after it. */
  recorded(bytes: Uint8Array, seq: number | undefined): { bytes: Uint8Array; seq: number | undefined; due: LaneInsert[] } {
    const due: LaneInsert[] = []
    this.delayed = this.delayed.filter((entry) => {
      if (--entry.left > 0) return true
      due.push({ frames: entry.frames, record: entry.record })
      return false
    })
    if (seq !== undefined && this.shift > 0) {
      seq += this.shift
      bytes = withSeq(bytes, seq)
    }
    if (this.pending.length > 0) bytes = this.rewrite(bytes, seq)
    return { bytes, seq, due }
  }

  /** An inserted frame with the seq after the highest one sent; later recorded frames move up by one. */
  stamp(frame: Uint8Array): { bytes: Uint8Array; seq: number } {
    const high = this.highestSent()
    const seq = high !== null ? high + 1 : (this.nextRecordedSeq() ?? 1) + this.shift
    this.shift++
    return { bytes: withSeq(frame, seq), seq }
  }

  /** The first pending fault whose #commit this is takes it: future-rev rewrites its rev, rev-regress keeps it to send again. */
  private rewrite(bytes: Uint8Array, seq: number | undefined): Uint8Array {
    const frame = readRepoFrame(bytes)
    if (frame?.t !== '#commit') return bytes
    const index = this.pending.findIndex(({ spec }) => spec.did === undefined || spec.did === frame.did)
    if (index < 0) return bytes
    const { spec, record } = this.pending.splice(index, 1)[0]!
    if (spec.kind === 'rev-regress') {
      this.delayed.push({ left: spec.afterFrames ?? 1, frames: [bytes], record })
      return bytes
    }
    if (seq !== undefined) record.seqs.push(seq)
    return withCommitRev(bytes, futureRev(frame.rev, Date.now(), spec.aheadSec ?? DEFAULT_AHEAD_SEC)) ?? bytes
  }
}

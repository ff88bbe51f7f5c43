import type { StreamEntry } from '../protocol/stream-entry.js'
import type { DeadLetter } from './dead-letter.js'
import type { BadResult, DecodeResult } from './decode-frame.js'
import type { QueuedFrame } from './frame-queue.js'
import type { WriteBatch } from './redis-sink.js'
import type { RepoOutcome, RepoPlan } from './repo-plan.js'
import { highestCursor, lowestCursor, parseStoredCursors } from './stored-cursor.js'

/** A write to one shard, naming its shard and cursor key. */
export type ShardWrite = WriteBatch & { shard: number; cursorKey: string }

/** Decoded frames in socket order, one result per frame. */
export interface DecodedFrames {
  frames: readonly QueuedFrame[]
  results: readonly DecodeResult[]
}

/** What the planner needs to know of the cursors and the run so far. */
export interface PlanState {
  /** The stored cursor of each shard as we believe Redis holds it ('' = no key): the CAS bases. */
  believed: readonly string[]
  /** Each shard's cursor key (index = shard). */
  cursorKeys: readonly string[]
  /** Per shard, seqs at or below this are in its stream already (a restart resumed from the lowest shard cursor); null = none. */
  floors: readonly (number | null)[]
  /** The one sanctioned step back (a new relay seq space, a forced --cursor below the stored one) is still to be taken (I15). */
  mayGoLower: boolean
  /** Malformed frames in a row before these (their count runs across writes). */
  consecutiveBad: number
  /** This many malformed frames in a row make the ingestor reconnect (--max-bad-frames). */
  maxConsecutiveBad: number
  /** Per-repo state is on: the rules on the states believed before this write (repo-plan.ts); null: off (--no-repo-state). */
  repos?: RepoPlan | null
}

/** One write: what goes to each shard, and what the frames were. */
export interface WritePlan {
  /** One per shard that changes: entries, dead letters (shard 0) or the cursor. */
  writes: ShardWrite[]
  /** The step back was taken by this write. */
  steppedBack: boolean
  /** Malformed frames in a row after these. */
  consecutiveBad: number
  /** How many times a run reached maxConsecutiveBad (each asks for a reconnect). */
  badRuns: number
  /** The frames dead-lettered by this write, in order. */
  deadLetters: { result: BadResult; frame: QueuedFrame }[]
  /** Frames of a type we do not publish. */
  unknown: { t: string; seq: number | null }[]
  /** Entries its shard already has (below its floor). */
  skippedKnown: number
  filteredEvents: number
  filteredOps: number
  /** Entries and their raw frame bytes by event type. */
  byType: Map<string, { events: number; bytes: number }>
  /** `time` of the last event written (event-time lag). */
  lastTimeMs: number | null
  /** The last frame of the write. */
  lastFrame: QueuedFrame
  /** What the per-repo rules found; null when per-repo state is off. */
  repo: RepoOutcome | null
  /** Entries not published because of their repo's state (stale, inactive, held, desynchronized, #sync). */
  repoWithheld: number
}

/**
 * Turns decoded frames into one write per shard: pure (no Redis, no clock), so every rule of
 * which entry goes where and where each cursor moves is unit-tested alone (write-plan.test.ts).
 * - The cursor moves to the highest seq above the stored one among the frames that decoded
 *   (written, filtered, unknown type, refused by --verify); a malformed frame's seq is a hint
 *   that never moves it (I15). The one sanctioned step back is taken by the first frame that
 *   decoded, once.
 * - Every shard's cursor moves to the write's last seq (never below its own), so a quiet shard
 *   does not hold a restart back; an entry at or below its shard's floor is already there (I20).
 * - Dead letters go with shard 0's write; one at or below shard 0's floor is already there.
 */
export function planWrite(batches: readonly DecodedFrames[], state: PlanState): WritePlan {
  const shards = state.believed.length
  const entries: StreamEntry[][] = Array.from({ length: shards }, () => [])
  const dead: DeadLetter[] = []
  const believed = parseStoredCursors(state.believed, state.cursorKeys)
  const highest = highestCursor(believed)
  const lowest = lowestCursor(believed)
  const repos = state.repos ?? null
  const plan: Omit<WritePlan, 'writes' | 'lastFrame' | 'repo'> = {
    steppedBack: false,
    consecutiveBad: state.consecutiveBad,
    badRuns: 0,
    deadLetters: [],
    unknown: [],
    skippedKnown: 0,
    filteredEvents: 0,
    filteredOps: 0,
    byType: new Map(),
    lastTimeMs: null,
    repoWithheld: 0,
  }
  const deadLetter = (frame: QueuedFrame, result: BadResult): void => {
    const seq = result.seq ?? frame.seq ?? null
    const floor = state.floors[0]
    if (seq !== null && floor !== null && floor !== undefined && seq <= floor) return
    dead.push({ seq, code: result.code, message: result.message, bytes: frame.bytes })
    plan.deadLetters.push({ result, frame })
  }
  let lastSeq: number | null = null
  let mayGoLower = state.mayGoLower
  for (const batch of batches) {
    for (let i = 0; i < batch.frames.length; i++) {
      const frame = batch.frames[i]!
      const result = batch.results[i]!
      if (frame.seq !== undefined && (result.kind !== 'bad' || result.decoded === true)) {
        if (mayGoLower && highest !== null && frame.seq <= (lastSeq ?? highest)) {
          lastSeq = frame.seq
          plan.steppedBack = true
          mayGoLower = false
        } else {
          const cursor = lastSeq ?? lowest
          if (cursor === null || frame.seq > cursor) lastSeq = frame.seq
        }
      }
      switch (result.kind) {
        case 'entry': {
          plan.consecutiveBad = 0
          const floor = state.floors[result.shard]
          if (floor !== null && floor !== undefined && result.entry.seq <= floor) {
            plan.skippedKnown++
            break
          }
          if (repos !== null && result.repo !== undefined) {
            const action = repos.decide(result.repo, result.entry.seq, result.entry)
            if (action.kind === 'dead-letter') {
              deadLetter(frame, { kind: 'bad', seq: result.entry.seq, code: action.code, message: action.message, decoded: true })
              break
            }
            if (action.kind === 'drop') {
              plan.repoWithheld++
              break
            }
          }
          entries[result.shard]!.push(result.entry)
          plan.filteredOps += result.filteredOps ?? 0
          addTally(plan.byType, result.entry.type, 1, frame.bytes.byteLength)
          if (result.timeMs !== null) plan.lastTimeMs = result.timeMs
          break
        }
        case 'skip':
          plan.unknown.push({ t: result.t, seq: result.seq })
          break
        case 'filtered': {
          plan.consecutiveBad = 0
          plan.filteredEvents++
          plan.filteredOps += result.ops
          // Not published either way, but it moves its repo's chain (or is refused like any event).
          const action = repos !== null && result.repo !== undefined ? repos.decide(result.repo, result.seq, null) : null
          if (action?.kind === 'dead-letter') deadLetter(frame, { kind: 'bad', seq: result.seq, code: action.code, message: action.message, decoded: true })
          break
        }
        case 'bad': {
          const seq = result.seq ?? frame.seq ?? null
          const floor = state.floors[0]
          if (seq !== null && floor !== null && floor !== undefined && seq <= floor) break
          deadLetter(frame, result)
          // A frame that failed --verify decoded: it does not count towards a run of malformed ones.
          if (result.decoded !== true && ++plan.consecutiveBad >= state.maxConsecutiveBad) {
            plan.badRuns++
            plan.consecutiveBad = 0
          }
          break
        }
      }
    }
  }
  const writes: ShardWrite[] = []
  const updates = repos?.updatesByShard() ?? []
  for (let shard = 0; shard < shards; shard++) {
    const expected = state.believed[shard]!
    const next = lastSeq === null ? expected : String(plan.steppedBack ? lastSeq : Math.max(lastSeq, believed[shard] ?? -1))
    const shardDead = shard === 0 ? dead : []
    const hashUpdates = updates[shard] ?? []
    if (entries[shard]!.length === 0 && shardDead.length === 0 && hashUpdates.length === 0 && next === expected) continue
    writes.push({
      shard,
      cursorKey: state.cursorKeys[shard]!,
      expected,
      next,
      entries: entries[shard]!,
      dead: shardDead,
      ...(plan.steppedBack ? { cursorMayGoLower: true } : {}),
      ...(hashUpdates.length > 0 ? { hashUpdates } : {}),
    })
  }
  const last = batches[batches.length - 1]!
  return { ...plan, writes, lastFrame: last.frames[last.frames.length - 1]!, repo: repos?.outcome ?? null }
}

export function addTally(tallies: Map<string, { events: number; bytes: number }>, type: string, events: number, bytes: number): void {
  const tally = tallies.get(type)
  if (tally === undefined) tallies.set(type, { events, bytes })
  else {
    tally.events += events
    tally.bytes += bytes
  }
}

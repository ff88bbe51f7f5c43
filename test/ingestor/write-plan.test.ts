import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { accountFrame, identityFrame } from '../../generator/frames.js'
import { decodeInline, type DecodeSettings } from '../../ingestor/decode-frame.js'
import type { QueuedFrame } from '../../ingestor/frame-queue.js'
import { VerifyErrorCode } from '../../ingestor/verify/errors.js'
import { applyVerdicts } from '../../ingestor/verify/verdicts.js'
import { addTally, planWrite, type DecodedFrames, type PlanState, type ShardWrite, type WritePlan } from '../../ingestor/write-plan.js'
import { FrameErrorCode } from '../../protocol/errors.js'
import { decodeEvent } from '../../protocol/events.js'
import { encodeFrame } from '../../protocol/frame.js'
import { peekFrame } from '../../protocol/peek.js'
import { shardOfDid } from '../../protocol/shard.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import { withSeq } from '../../replay/index.js'
import { malformedCommitFrame, sequencedRealFrames } from './helpers.js'

/*
 * planWrite is pure: these tests give it frames decoded by the decoder's own code (decodeInline)
 * and queued as the relay intake queues them, and read the plan. No Redis: what Redis does with a
 * plan is proved by write-script.test.ts and the integration suites named in docs/invariants.md.
 */

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
/** `time` of the frame with seq 0; seq n is n ms later (so lastTimeMs names the frame). */
const EPOCH_MS = Date.UTC(2025, 5, 2, 14)

function randomPlcDid(random: SeededRandom): string {
  return `did:plc:${Array.from({ length: 24 }, () => BASE32[random.int(0, 31)]).join('')}`
}

/** The first DID of a fixed series that shardOfDid puts in `shard` of `shards`. */
function didInShard(shard: number, shards: number): string {
  for (let n = 0; ; n++) {
    const did = `did:plc:${n.toString(2).padStart(24, 'a').replaceAll('0', 'b').replaceAll('1', 'c')}`
    if (shardOfDid(did, shards) === shard) return did
  }
}

const ALICE = 'did:plc:44ybard66vv44zksje25o7dz'

/** A generator #identity frame (published as `identity`). */
function identity(seq: number, did = ALICE): Uint8Array {
  return identityFrame({ type: 'identity', seq, handle: 'alice.test', index: 0, account: 0, timeUs: (EPOCH_MS + seq) * 1000, receivedUs: 0 }, did)
}

/** A generator #account frame (filtered out by TYPES_WITHOUT_ACCOUNT). */
function account(seq: number, did = ALICE): Uint8Array {
  return accountFrame({ type: 'account', seq, active: true, index: 0, account: 0, timeUs: (EPOCH_MS + seq) * 1000, receivedUs: 0 }, did)
}

/** A well-formed frame of a type we do not publish. */
function unknownType(seq: number): Uint8Array {
  return encodeFrame({ op: 1, t: '#bogus' }, { seq })
}

const MALFORMED = malformedCommitFrame(1)
/** A #commit whose seq reads but whose blocks are not a CAR (FRAME_BAD_CAR). */
const malformed = (seq: number): Uint8Array => withSeq(MALFORMED, seq)
/** Not even a header: no seq at all. */
const GARBAGE = Uint8Array.of(0xa1)

const TYPES_WITHOUT_ACCOUNT: DecodeSettings['filter'] = { collections: null, types: ['commit', 'identity', 'sync'] }

/** As the relay intake queues a frame: its seq peeked, undefined when the frame cannot be peeked. */
function queued(bytes: Uint8Array): QueuedFrame {
  let seq: number | undefined
  try {
    seq = peekFrame(bytes).seq
  } catch {
    seq = undefined
  }
  return { bytes, seq, receivedAtUs: 0 }
}

function decoded(frames: readonly Uint8Array[], settings: Partial<DecodeSettings> = {}): DecodedFrames {
  return { frames: frames.map(queued), results: decodeInline(frames, { verifyBlocks: 'all', ...settings }) }
}

/** The plan's state for stored cursors `believed` (null: no key), each shard's floor at its cursor as after a start or resync. */
function state(believed: readonly (number | null)[], overrides: Partial<PlanState> = {}): PlanState {
  return {
    believed: believed.map((cursor) => (cursor === null ? '' : String(cursor))),
    cursorKeys: believed.map((_, shard) => `test:cursor:${shard}`),
    floors: [...believed],
    mayGoLower: false,
    consecutiveBad: 0,
    maxConsecutiveBad: 100,
    ...overrides,
  }
}

function writeOf(plan: WritePlan, shard: number): ShardWrite | undefined {
  return plan.writes.find((write) => write.shard === shard)
}

const seqs = (entries: readonly StreamEntry[]): number[] => entries.map((entry) => entry.seq)

/** The repo an entry is about, read from its published JSON (a commit's repo, else its did). */
function didOf(entry: StreamEntry): string {
  const data = JSON.parse(entry.data) as { repo?: string; did?: string }
  return data.repo ?? data.did!
}

describe('I15: the cursor never moves backwards (a lower cursor would make the next run fetch, and write again, events the stream has)', () => {
  it("moves to the highest seq above the stored one among the write's frames, not to the last one", () => {
    const plan = planWrite([decoded([identity(101), identity(105), identity(103)])], state([100]))
    expect(plan.writes).toEqual([expect.objectContaining({ shard: 0, cursorKey: 'test:cursor:0', expected: '100', next: '105' })])
    expect(seqs(writeOf(plan, 0)!.entries)).toEqual([101, 105, 103])
    expect(writeOf(plan, 0)).not.toHaveProperty('cursorMayGoLower')
  })

  it('a batch whose seqs are all at or below the cursor: with the floor there (start, resync) its entries are known, nothing is written', () => {
    const plan = planWrite([decoded([identity(95), identity(99), identity(100)])], state([100]))
    expect(plan.writes).toEqual([])
    expect(plan.skippedKnown).toBe(3)
    expect(plan.byType.size).toBe(0)
  })

  it('a batch whose seqs are all at or below the cursor: without a floor its entries are written, and the cursor stays', () => {
    const plan = planWrite([decoded([identity(50), identity(51)])], state([100], { floors: [null] }))
    expect(plan.writes).toEqual([expect.objectContaining({ expected: '100', next: '100' })])
    expect(seqs(writeOf(plan, 0)!.entries)).toEqual([50, 51])
    expect(plan.steppedBack).toBe(false)
  })

  it('a batch across the cursor: what is at or below it is known, the cursor moves to the highest seq above it', () => {
    const plan = planWrite([decoded([identity(99), identity(100), identity(101), identity(102)])], state([100]))
    expect(plan.writes).toEqual([expect.objectContaining({ expected: '100', next: '102' })])
    expect(seqs(writeOf(plan, 0)!.entries)).toEqual([101, 102])
    expect(plan.skippedKnown).toBe(2)
  })

  it('with no cursor stored (a run from the live tail) the highest seq that decoded sets it', () => {
    const plan = planWrite([decoded([malformed(500), identity(7), identity(8)])], state([null]))
    expect(plan.writes).toEqual([expect.objectContaining({ expected: '', next: '8' })])
  })

  it('the sanctioned step back (new relay seq space, forced --cursor below) is taken by the first frame that decodes, once, and declared', () => {
    const frames = [malformed(3), identity(5), identity(6), identity(4)]
    const plan = planWrite([decoded(frames)], state([1000], { floors: [null], mayGoLower: true }))
    expect(plan.steppedBack).toBe(true)
    // 4 is below 6: once stepped back, the cursor is forward-only again.
    expect(plan.writes).toEqual([expect.objectContaining({ expected: '1000', next: '6', cursorMayGoLower: true })])
    expect(plan.deadLetters.map(({ result }) => result.seq)).toEqual([3])
    const notAllowed = planWrite([decoded(frames)], state([1000], { floors: [null] }))
    expect(notAllowed.steppedBack).toBe(false)
    expect(notAllowed.writes).toEqual([expect.objectContaining({ expected: '1000', next: '1000' })])
    expect(writeOf(notAllowed, 0)).not.toHaveProperty('cursorMayGoLower')
  })

  it('a step back allowed but not needed (the seqs are above the cursor) is not taken: it stays allowed for a later write', () => {
    const plan = planWrite([decoded([identity(101)])], state([100], { mayGoLower: true }))
    expect(plan.steppedBack).toBe(false)
    expect(plan.writes).toEqual([expect.objectContaining({ next: '101' })])
    expect(writeOf(plan, 0)).not.toHaveProperty('cursorMayGoLower')
  })
})

describe("I15: a malformed frame's seq moves nothing (it is untrusted: a bogus far-future seq would skip every good frame below it)", () => {
  it('a malformed frame far ahead is dead-lettered with its seq as a hint; the cursor moves over the well-formed frames only', () => {
    const far = malformed(1_000_000_000)
    const plan = planWrite([decoded([identity(101), far, identity(102)])], state([100]))
    expect(plan.writes).toHaveLength(1)
    const write = writeOf(plan, 0)!
    expect(write).toMatchObject({ expected: '100', next: '102' })
    expect(seqs(write.entries)).toEqual([101, 102])
    expect(write.dead).toEqual([{ seq: 1_000_000_000, code: FrameErrorCode.BadCar, message: expect.any(String) as string, bytes: far }])
  })

  it('a write that ends on a malformed frame leaves the cursor below it, so it is fetched again (dead letters are at least once)', () => {
    const plan = planWrite([decoded([identity(101), malformed(102)])], state([100]))
    expect(plan.writes).toEqual([expect.objectContaining({ next: '101' })])
    expect(writeOf(plan, 0)!.dead.map((dead) => dead.seq)).toEqual([102])
  })

  it('a write of malformed frames only carries their dead letters with the cursor unchanged; a frame without a seq has a null one', () => {
    const plan = planWrite([decoded([malformed(101), GARBAGE])], state([100]))
    expect(plan.writes).toEqual([expect.objectContaining({ expected: '100', next: '100', entries: [] })])
    expect(writeOf(plan, 0)!.dead.map((dead) => [dead.seq, dead.bytes])).toEqual([
      [101, malformed(101)],
      [null, GARBAGE],
    ])
  })

  it('a frame refused by --verify decoded: its seq moves the cursor, and it is no part of a run of malformed frames', () => {
    const batch = decoded([identity(101), identity(102), identity(103)])
    const refused = (seq: number) => ({ code: VerifyErrorCode.BadSignature, message: 'bad signature', seq })
    // Two refused in a row would be a run of maxConsecutiveBad 2 if they counted.
    const plan = planWrite([{ frames: batch.frames, results: applyVerdicts([...batch.results], [null, refused(102), refused(103)]) }], state([100], { maxConsecutiveBad: 2 }))
    expect(plan.writes).toEqual([expect.objectContaining({ next: '103' })])
    expect(seqs(writeOf(plan, 0)!.entries)).toEqual([101])
    expect(writeOf(plan, 0)!.dead.map((dead) => [dead.seq, dead.code])).toEqual([
      [102, VerifyErrorCode.BadSignature],
      [103, VerifyErrorCode.BadSignature],
    ])
    expect([plan.consecutiveBad, plan.badRuns]).toEqual([0, 0])
  })

  it("a dead letter at or below shard 0's floor is in the dead-letter stream already (the write that put it there is being repeated)", () => {
    const plan = planWrite([decoded([malformed(99), malformed(100), malformed(101), GARBAGE])], state([100]))
    expect(writeOf(plan, 0)!.dead.map((dead) => dead.seq)).toEqual([101, null])
    expect(plan.deadLetters.map(({ frame }) => frame.seq)).toEqual([101, undefined])
  })
})

describe('I9: a run of --max-bad-frames malformed frames asks for a reconnect (a relay sending garbage is not read forever)', () => {
  it('each run of maxConsecutiveBad asks once; a well-formed frame ends a run; the count carries across writes', () => {
    // 1 carried in, +2 = 3: a run; then 1 more, a good frame resets, 1 more.
    const frames = [malformed(101), GARBAGE, malformed(102), identity(103), GARBAGE]
    const plan = planWrite([decoded(frames)], state([100], { consecutiveBad: 1, maxConsecutiveBad: 3 }))
    expect([plan.badRuns, plan.consecutiveBad]).toEqual([1, 1])
    const next = planWrite([decoded([GARBAGE, GARBAGE])], state([103], { consecutiveBad: plan.consecutiveBad, maxConsecutiveBad: 3 }))
    expect([next.badRuns, next.consecutiveBad]).toEqual([1, 0])
  })

  it('filtered events end a run too; frames of an unknown type neither end nor extend it', () => {
    const frames = [GARBAGE, unknownType(101), GARBAGE, account(102), GARBAGE]
    const plan = planWrite([decoded(frames, { filter: TYPES_WITHOUT_ACCOUNT })], state([100], { maxConsecutiveBad: 3 }))
    expect([plan.badRuns, plan.consecutiveBad]).toEqual([0, 1])
  })
})

describe('I20: shard floors (a restart resumes from the lowest shard cursor, so each shard skips what its stream has, and a quiet shard must not hold a restart back)', () => {
  const SHARDS = 3
  const dids = Array.from({ length: SHARDS }, (_, shard) => didInShard(shard, SHARDS))

  it("each shard skips entries at or below its own floor and writes those above; every shard's cursor moves to the write's last seq", () => {
    // Seqs 86..125, repos in turn: every shard gets frames below and above every floor.
    const frames = Array.from({ length: 40 }, (_, i) => identity(86 + i, dids[i % SHARDS]))
    const plan = planWrite([decoded(frames, { shards: SHARDS })], state([120, 90, 100]))
    const floors = [120, 90, 100]
    for (let shard = 0; shard < SHARDS; shard++) {
      const expected = Array.from({ length: 40 }, (_, i) => 86 + i).filter((seq, i) => i % SHARDS === shard && seq > floors[shard]!)
      expect(writeOf(plan, shard), `shard ${shard}`).toMatchObject({ cursorKey: `test:cursor:${shard}`, expected: String(floors[shard]), next: '125' })
      expect(seqs(writeOf(plan, shard)!.entries), `shard ${shard}`).toEqual(expected)
    }
    expect(plan.skippedKnown).toBe(40 - plan.writes.reduce((sum, write) => sum + write.entries.length, 0))
  })

  it("never moves a shard's cursor below its own; a quiet shard gets a cursor-only write, one already there gets none", () => {
    const frames = Array.from({ length: 10 }, (_, i) => identity(101 + i, dids[1]))
    const plan = planWrite([decoded(frames, { shards: SHARDS })], state([120, 90, 100]))
    expect(plan.writes.map((write) => write.shard)).toEqual([1, 2])
    expect(writeOf(plan, 1)).toMatchObject({ expected: '90', next: '110' })
    expect(seqs(writeOf(plan, 1)!.entries)).toEqual(frames.map((_, i) => 101 + i))
    expect(writeOf(plan, 2)).toEqual({ shard: 2, cursorKey: 'test:cursor:2', expected: '100', next: '110', entries: [], dead: [] })
  })

  it('a seq above the lowest shard cursor moves only the shards below it', () => {
    const plan = planWrite([decoded([identity(95, dids[1])], { shards: SHARDS })], state([120, 90, 100]))
    expect(plan.writes.map((write) => [write.shard, write.next])).toEqual([[1, '95']])
  })

  it("a shard without a cursor key takes the write's last seq", () => {
    const plan = planWrite([decoded([identity(105, dids[0])], { shards: SHARDS })], state([100, null, 100]))
    expect(plan.writes.map((write) => [write.shard, write.expected, write.next])).toEqual([
      [0, '100', '105'],
      [1, '', '105'],
      [2, '100', '105'],
    ])
  })

  it("dead letters go with shard 0's write, against shard 0's floor", () => {
    const plan = planWrite([decoded([malformed(95), malformed(130)], { shards: SHARDS })], state([100, 90, 80]))
    expect(plan.writes).toHaveLength(1)
    expect(writeOf(plan, 0)).toMatchObject({ expected: '100', next: '100', entries: [] })
    expect(writeOf(plan, 0)!.dead.map((dead) => dead.seq)).toEqual([130])
  })

  it('the sanctioned step back takes every shard to the lower cursor, each write declaring it', () => {
    const plan = planWrite([decoded([identity(5, dids[2]), identity(6, dids[0])], { shards: SHARDS })], state([1000, 900, 950], { floors: [null, null, null], mayGoLower: true }))
    expect(plan.writes.map((write) => [write.shard, write.next, write.cursorMayGoLower])).toEqual([
      [0, '6', true],
      [1, '6', true],
      [2, '6', true],
    ])
  })
})

describe("I20: routing (an event goes to the stream of its repo DID, so one repo's events stay in one stream, in relay order)", () => {
  const seed = SeededRandom.freshSeed()

  it('every entry is in the write of shardOfDid(its repo DID), once, in relay order; real commits and seeded DIDs', () => {
    const random = new SeededRandom(seed)
    const repos = Array.from({ length: 50 }, () => randomPlcDid(random))
    const commits = sequencedRealFrames(30, 1000).filter((bytes) => peekFrame(bytes).t === '#commit')
    const events = Array.from({ length: 200 }, (_, i) => (random.bool(0.8) ? identity(2000 + i, random.pick(repos)) : account(2000 + i, random.pick(repos))))
    const frames = [...commits, ...events]
    for (const shards of [1, 4, 7]) {
      const plan = planWrite([decoded(frames, { shards })], state(Array.from({ length: shards }, () => 999)))
      const where = `seed ${seed}, ${shards} shards`
      expect(
        plan.writes.map((write) => write.shard),
        where,
      ).toEqual(Array.from({ length: shards }, (_, shard) => shard))
      const written: StreamEntry[] = []
      for (const write of plan.writes) {
        // The shard is computed here from the published JSON, not taken from the decoder's result.
        for (const entry of write.entries) expect(shardOfDid(didOf(entry), shards), `${where}: seq ${entry.seq}`).toBe(write.shard)
        expect(seqs(write.entries), where).toEqual([...seqs(write.entries)].sort((a, b) => a - b))
        written.push(...write.entries)
      }
      expect(
        seqs(written).sort((a, b) => a - b),
        where,
      ).toEqual(frames.map((bytes) => peekFrame(bytes).seq!))
    }
  })
})

describe('I9: filtered events are counted, and the cursor moves over them as over a written frame (else a restart would fetch them again)', () => {
  it('events of a type left out count as filtered and move the cursor', () => {
    const plan = planWrite([decoded([identity(101), account(102), account(103)], { filter: TYPES_WITHOUT_ACCOUNT })], state([100]))
    expect(plan.filteredEvents).toBe(2)
    expect(plan.writes).toEqual([expect.objectContaining({ next: '103' })])
    expect(seqs(writeOf(plan, 0)!.entries)).toEqual([101])
  })

  it('a write whose frames are all filtered still carries the cursor, with no entry', () => {
    const plan = planWrite([decoded([account(101), account(102)], { filter: TYPES_WITHOUT_ACCOUNT })], state([100]))
    expect(plan.writes).toEqual([{ shard: 0, cursorKey: 'test:cursor:0', expected: '100', next: '102', entries: [], dead: [] }])
    expect(plan.byType.size).toBe(0)
  })

  it('commit ops of other collections count as filtered ops; a commit left with none is a filtered event', () => {
    const commits = sequencedRealFrames(39, 101).filter((bytes) => peekFrame(bytes).t === '#commit')
    const keep = 'app.bsky.feed.post'
    let removedOps = 0
    let emptied = 0
    for (const bytes of commits) {
      const event = decodeEvent(bytes)
      if (event.type !== 'commit') throw new Error('not a commit')
      const removed = event.ops.filter((op) => !op.path.startsWith(`${keep}/`)).length
      removedOps += removed
      if (removed === event.ops.length) emptied++
    }
    expect(removedOps).toBeGreaterThan(0)
    const plan = planWrite([decoded(commits, { filter: { collections: [keep], types: null } })], state([100]))
    expect([plan.filteredOps, plan.filteredEvents]).toEqual([removedOps, emptied])
    expect(writeOf(plan, 0)!.entries).toHaveLength(commits.length - emptied)
    expect(writeOf(plan, 0)!.next).toBe(String(Math.max(...commits.map((bytes) => peekFrame(bytes).seq!))))
  })

  it('a frame of a type we do not publish is counted with its seq, and moves the cursor', () => {
    const plan = planWrite([decoded([identity(101), unknownType(102)])], state([100]))
    expect(plan.unknown).toEqual([{ t: '#bogus', seq: 102 }])
    expect(plan.writes).toEqual([expect.objectContaining({ next: '102' })])
  })
})

describe('tallies (what a write carried, reported once it is acknowledged: metrics, status, event-time lag)', () => {
  it('several batches make one write per shard; entries and raw bytes by type count what is written only; the last event time and frame', () => {
    const first = [identity(99), identity(101), account(102)]
    const second = [identity(103), malformed(104), unknownType(105)]
    const commit = sequencedRealFrames(1, 106)
    const plan = planWrite([decoded(first), decoded([...second, ...commit])], state([100]))
    expect(plan.writes).toHaveLength(1)
    expect(seqs(writeOf(plan, 0)!.entries)).toEqual([101, 102, 103, 106])
    const bytes = (frames: Uint8Array[]): number => frames.reduce((sum, frame) => sum + frame.byteLength, 0)
    expect(Object.fromEntries(plan.byType)).toEqual({
      identity: { events: 2, bytes: bytes([first[1]!, second[0]!]) },
      account: { events: 1, bytes: bytes([first[2]!]) },
      commit: { events: 1, bytes: bytes(commit) },
    })
    expect(plan.lastTimeMs).toBe(Date.parse((decodeEvent(commit[0]!) as { time: string }).time))
    expect(plan.lastFrame.bytes).toBe(commit[0])
    expect([plan.skippedKnown, plan.deadLetters.length, plan.unknown.length]).toEqual([1, 1, 1])
  })

  it('the last event time is of the last entry written, not of a later frame that was not', () => {
    const plan = planWrite([decoded([identity(101), account(102), malformed(103)], { filter: TYPES_WITHOUT_ACCOUNT })], state([100]))
    expect(plan.lastTimeMs).toBe(EPOCH_MS + 101)
    expect(plan.lastFrame.seq).toBe(103)
  })

  it('addTally adds to a type or starts it', () => {
    const tallies = new Map<string, { events: number; bytes: number }>()
    addTally(tallies, 'commit', 1, 10)
    addTally(tallies, 'commit', 2, 5)
    addTally(tallies, 'sync', 1, 7)
    expect(Object.fromEntries(tallies)).toEqual({ commit: { events: 3, bytes: 15 }, sync: { events: 1, bytes: 7 } })
  })
})

type FrameKind = 'entry' | 'filtered' | 'unknown' | 'malformed' | 'garbage' | 'refused'

describe('every rule at once on seeded random writes (model check: shards, floors, malformed, filtered, unknown and refused frames mixed)', () => {
  const seed = SeededRandom.freshSeed()

  it('cursors, entries, dead letters, counts and malformed runs match a model of the rules, over 300 writes', () => {
    const random = new SeededRandom(seed)
    for (let round = 0; round < 300; round++) {
      const where = `seed ${seed}, round ${round}`
      const shards = random.int(1, 4)
      const believed = Array.from({ length: shards }, () => (random.bool(0.15) ? null : random.int(1000, 1040)))
      // A floor at the shard's cursor (start, resync, relay switch) or none (a new relay seq space).
      const floors = believed.map((cursor) => (random.bool(0.3) ? null : cursor))
      const maxConsecutiveBad = random.int(1, 5)
      const repos = Array.from({ length: 5 }, () => randomPlcDid(random))
      const frames: { kind: FrameKind; seq: number | null; did: string; bytes: Uint8Array }[] = []
      let seq = random.int(990, 1040)
      for (let i = random.int(1, 30); i > 0; i--) {
        seq = Math.max(0, seq + random.int(-3, 6)) // the intake passes ascending seqs; the planner must not rely on it
        const kind = random.weighted<FrameKind>({ entry: 50, filtered: 15, unknown: 5, malformed: 10, garbage: 5, refused: 5 })
        const did = random.pick(repos)
        const far = random.int(seq, 2 ** 40) // a malformed frame's seq may be anything
        const bytes = kind === 'entry' || kind === 'refused' ? identity(seq, did) : kind === 'filtered' ? account(seq, did) : kind === 'unknown' ? unknownType(seq) : kind === 'malformed' ? malformed(far) : GARBAGE
        frames.push({ kind, seq: kind === 'malformed' ? far : kind === 'garbage' ? null : seq, did, bytes })
      }
      const batches: DecodedFrames[] = []
      for (let start = 0; start < frames.length;) {
        const part = frames.slice(start, (start += random.int(1, 12)))
        const batch = decoded(
          part.map((frame) => frame.bytes),
          { shards, filter: TYPES_WITHOUT_ACCOUNT },
        )
        const verdicts = part.map((frame) => (frame.kind === 'refused' ? { code: VerifyErrorCode.BadSignature, message: 'refused', seq: frame.seq } : null))
        batches.push({ frames: batch.frames, results: applyVerdicts([...batch.results], verdicts) })
      }
      const plan = planWrite(batches, state(believed, { floors, maxConsecutiveBad }))

      // The model: the cursor moves to the highest seq of a frame that decoded, if above the lowest cursor, never below a shard's own.
      const trusted = frames.filter((frame) => frame.kind !== 'malformed' && frame.kind !== 'garbage').map((frame) => frame.seq!)
      const top = trusted.length === 0 ? null : Math.max(...trusted)
      const known = believed.filter((cursor): cursor is number => cursor !== null)
      const moves = top !== null && (known.length === 0 || top > Math.min(...known))
      const above = (value: number | null, floor: number | null | undefined): boolean => value === null || floor === null || floor === undefined || value > floor
      let consecutiveBad = 0
      let badRuns = 0
      for (const frame of frames) {
        if (frame.kind === 'entry' || frame.kind === 'filtered') consecutiveBad = 0
        else if ((frame.kind === 'malformed' || frame.kind === 'garbage') && above(frame.seq, floors[0]) && ++consecutiveBad >= maxConsecutiveBad) {
          badRuns++
          consecutiveBad = 0
        }
      }
      for (let shard = 0; shard < shards; shard++) {
        const stored = believed[shard] ?? null
        const next = moves && top !== null ? String(Math.max(top, stored ?? -1)) : stored === null ? '' : String(stored)
        const entries = frames.filter((frame) => frame.kind === 'entry' && shardOfDid(frame.did, shards) === shard && above(frame.seq, floors[shard]))
        const dead = shard === 0 ? frames.filter((frame) => (frame.kind === 'malformed' || frame.kind === 'garbage' || frame.kind === 'refused') && above(frame.seq, floors[0])) : []
        const write = writeOf(plan, shard)
        if (entries.length === 0 && dead.length === 0 && next === (stored === null ? '' : String(stored))) {
          expect(write, `${where}: shard ${shard} has nothing to write`).toBeUndefined()
          continue
        }
        expect(write, `${where}: shard ${shard}`).toMatchObject({ expected: stored === null ? '' : String(stored), next })
        if (stored !== null) expect(Number(write!.next), `${where}: shard ${shard} backwards`).toBeGreaterThanOrEqual(stored)
        expect(
          write!.entries.map((entry) => [entry.seq, didOf(entry)]),
          `${where}: shard ${shard} entries`,
        ).toEqual(entries.map((frame) => [frame.seq, frame.did]))
        expect(
          write!.dead.map((letter) => [letter.seq, letter.bytes]),
          `${where}: dead letters`,
        ).toEqual(dead.map((frame) => [frame.seq, frame.bytes]))
      }
      const count = (kind: FrameKind): number => frames.filter((frame) => frame.kind === kind).length
      const skipped = frames.filter((frame) => frame.kind === 'entry' && !above(frame.seq, floors[shardOfDid(frame.did, shards)])).length
      expect({ skippedKnown: plan.skippedKnown, filteredEvents: plan.filteredEvents, unknown: plan.unknown.length, consecutiveBad: plan.consecutiveBad, badRuns: plan.badRuns }, where).toEqual({
        skippedKnown: skipped,
        filteredEvents: count('filtered'),
        unknown: count('unknown'),
        consecutiveBad,
        badRuns,
      })
      expect(plan.lastFrame.bytes, where).toBe(frames[frames.length - 1]!.bytes)
    }
  })
})

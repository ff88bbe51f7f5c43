import { beforeAll, describe, expect, it } from 'vitest'
import { readFixtureFrames } from '../../fixture-file/index.js'
import { decodeInline, type DecodeSettings } from '../../ingestor/decode-frame.js'
import type { QueuedFrame } from '../../ingestor/frame-queue.js'
import { RepoDeadLetterCode, RepoPlan, type BelievedRepo } from '../../ingestor/repo-plan.js'
import { planWrite, type WritePlan } from '../../ingestor/write-plan.js'
import { decodeEvent, type CommitEvent } from '../../protocol/events.js'
import { peekFrame } from '../../protocol/peek.js'
import { decodeRepoState, encodeRepoState } from '../../repo-sync/repo-state-codec.js'
import type { RepoState } from '../../repo-sync/types.js'
import { committedFixture } from './helpers.js'

/*
 * The per-repo rules inside the write plan (ingestor/repo-plan.ts): pure, on frames of the
 * committed fixture decoded by the decoder's own code. Which verdict each rule gives is proved in
 * test/repo-sync/rules.test.ts; here: what the write does with it (published or not, dead-lettered,
 * the state written compare-and-set, repos handed to the resync worker).
 */

let commits: { bytes: Uint8Array; event: CommitEvent }[] = []
/** Commits of the repo with the most commits, in order. */
let chain: { bytes: Uint8Array; event: CommitEvent }[] = []

beforeAll(async () => {
  const frames = await readFixtureFrames(committedFixture)
  commits = frames.flatMap((bytes) => {
    const event = decodeEvent(bytes)
    return event.type === 'commit' ? [{ bytes, event }] : []
  })
  const counts = new Map<string, number>()
  for (const { event } of commits) counts.set(event.repo, (counts.get(event.repo) ?? 0) + 1)
  const busiest = [...counts].sort((a, b) => b[1] - a[1])[0]![0]
  chain = commits.filter(({ event }) => event.repo === busiest)
})

function queued(bytes: Uint8Array): QueuedFrame {
  return { bytes, seq: peekFrame(bytes).seq, receivedAtUs: 0 }
}

const SETTINGS: DecodeSettings = { verifyBlocks: 'all', repoFacts: true }

/** One write of `frames` with per-repo state on, on `believed` states, at `nowMs` (default: the last frame's time). */
function plan(frames: Uint8Array[], believed: Map<string, BelievedRepo> = new Map(), options: { nowMs?: number; filter?: DecodeSettings['filter'] } = {}): WritePlan {
  const results = decodeInline(frames, { ...SETTINGS, filter: options.filter ?? null })
  const last = decodeEvent(frames[frames.length - 1]!) as CommitEvent
  const repos = new RepoPlan(believed, options.nowMs ?? Date.parse(last.time), 1)
  return planWrite([{ frames: frames.map(queued), results }], { believed: [''], cursorKeys: ['c'], floors: [null], mayGoLower: false, consecutiveBad: 0, maxConsecutiveBad: 10, repos })
}

function believedOf(state: RepoState): BelievedRepo {
  return { raw: encodeRepoState(state), state }
}

const publishedSeqs = (p: WritePlan): number[] => p.writes.flatMap((write) => write.entries.map((entry) => entry.seq))
const storedState = (p: WritePlan, did: string): RepoState | undefined => {
  const update = p.writes.flatMap((write) => write.hashUpdates ?? []).find((u) => u.field === did)
  return update === undefined ? undefined : decodeRepoState(update.next as Buffer)
}

describe("a repo's commits that continue its chain are published, and its last rev and root are written with them (I23)", () => {
  it('publishes each and stores the last', () => {
    const three = chain.slice(0, 3)
    const p = plan(three.map((c) => c.bytes))
    expect(publishedSeqs(p)).toEqual(three.map((c) => c.event.seq))
    expect(storedState(p, three[0]!.event.repo)).toEqual({ rev: three[2]!.event.rev, data: three[2]!.event.data, status: 'active', sync: 'synchronized' })
    // Compare-and-set against what was believed: no state before.
    expect(p.writes[0]!.hashUpdates![0]!.expected).toBe('')
  })
})

describe('a commit that does not continue its chain is not published: the repo is desynchronized and handed to the resync worker', () => {
  it('a lost commit: the next one is withheld, the state keeps the last good rev', () => {
    const [first, , third] = chain
    const p = plan([first!.bytes, third!.bytes])
    expect(publishedSeqs(p)).toEqual([first!.event.seq])
    expect(p.repoWithheld).toBe(1)
    expect(p.repo!.desyncs).toEqual([expect.objectContaining({ did: first!.event.repo, cause: 'since', expected: first!.event.rev, got: third!.event.since })])
    expect([...p.repo!.resyncs]).toEqual([first!.event.repo])
    expect(storedState(p, first!.event.repo)).toMatchObject({ rev: first!.event.rev, sync: 'desynchronized' })
  })
})

describe('a commit at or below the stored rev was applied already: not published, nothing written for it', () => {
  it('a replayed commit', () => {
    const [first, second] = chain
    const believed = new Map([[first!.event.repo, believedOf({ rev: second!.event.rev, data: second!.event.data!, status: 'active', sync: 'synchronized' })]])
    const p = plan([second!.bytes], believed)
    expect(publishedSeqs(p)).toEqual([])
    expect(p.repo!.verdicts.get('stale')).toBe(1)
    expect(p.writes.flatMap((write) => write.hashUpdates ?? [])).toEqual([])
  })
})

describe("a resyncing repo's events are held for the resync worker, not published", () => {
  it('held with its entry', () => {
    const [first, second] = chain
    const believed = new Map([[first!.event.repo, believedOf({ rev: first!.event.rev, data: first!.event.data!, status: 'active', sync: 'resyncing' })]])
    const p = plan([second!.bytes], believed)
    expect(publishedSeqs(p)).toEqual([])
    expect(p.repo!.held.map((held) => [held.did, held.seq, held.entry?.seq])).toEqual([[first!.event.repo, second!.event.seq, second!.event.seq]])
  })
})

describe('a rev dated more than 5 minutes ahead is dead-lettered, never stored (it would make every later rev stale)', () => {
  it('with REPO_STATE_FUTURE_REV, the cursor past it', () => {
    const [first] = chain
    const p = plan([first!.bytes], new Map(), { nowMs: Date.parse(first!.event.time) - 3_600_000 })
    expect(publishedSeqs(p)).toEqual([])
    expect(p.deadLetters.map((dead) => dead.result.code)).toEqual([RepoDeadLetterCode.FutureRev])
    expect(p.writes[0]!.next).toBe(String(first!.event.seq))
    expect(p.writes[0]!.hashUpdates).toBeUndefined()
  })
})

describe("a commit the filter leaves out still moves its repo's chain (or the next published one would look like a gap)", () => {
  it('filtered, then the next one published', () => {
    const [first, second] = chain
    const p = plan([first!.bytes, second!.bytes], new Map(), { filter: { collections: ['nothing.matches.this'], types: null } })
    expect(publishedSeqs(p)).toEqual([])
    expect(p.filteredEvents).toBe(2)
    expect(storedState(p, first!.event.repo)).toMatchObject({ rev: second!.event.rev, sync: 'synchronized' })
    expect(p.repo!.desyncs).toEqual([])
  })
})

describe('an account active again whose repo waits for a resync is handed to the resync worker at once', () => {
  it('after a refused fetch (deactivated)', async () => {
    const { accountFrame } = await import('../../generator/frames.js')
    const [first] = chain
    const did = first!.event.repo
    const believed = new Map([[did, believedOf({ rev: first!.event.rev, data: first!.event.data!, status: 'deactivated', sync: 'desynchronized' })]])
    const reactivated = accountFrame({ type: 'account', seq: 99, active: true, index: 0, account: 0, timeUs: Date.parse(first!.event.time) * 1000, receivedUs: 0 }, did)
    const p = plan([reactivated], believed, { nowMs: Date.parse(first!.event.time) })
    expect(publishedSeqs(p)).toEqual([99])
    expect([...p.repo!.resyncs]).toEqual([did])
  })
})

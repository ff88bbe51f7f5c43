import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { afterSnapshot, onCommit, onEvent, startResync } from '../../repo-sync/rules.js'
import type { ChainFacts, CommitFacts, RepoState } from '../../repo-sync/types.js'
import { REAL_DATA, prodCommitFrames, scenarioExpectations, scenarioFrames, scenarioNames } from '../protocol/helpers.js'
import { decodeForRules, didOf } from './helpers.js'

/**
 * indigo's relay scenarios (test/data/real/indigo-relay-scenarios, per-frame `drop`/`invalid`
 * expectations) through the per-repo rules. A relay and a consumer keep per-repo state for
 * different ends: the relay forwards what is well-formed and in order, a consumer must end with
 * exactly each repo's records. So the table says, per frame, what the rules decide, and where
 * that is not what the relay does, why.
 */

/** A frame's fate under the rules: its verdict, then (for a held one) its verdict after the snapshot. */
type Fate = string

interface ScenarioTable {
  /** Each frame's fate, in order (`not fed` for the frames of `notFed`). */
  fates: Fate[]
  /** Frames where the relay's expectation differs from the rules', and why a consumer differs. */
  deviations: Record<number, string>
  /** Frames the relay drops for a reason that is not per-repo, which the rules never see; and the reason. */
  notFed?: Record<number, string>
}

const SEQ_RULE = 'seq ordering is not per-repo: the ingestor skips a repeated or lower seq before the rules see it (I7, golden.test.ts checks this scenario)'
const SINCE_GAP_LENIENT =
  "the scenario leaves out commits between this one and the repo's last (its `since` is not the last rev). The relay runs lenient and only logs a `since` mismatch; a consumer cannot apply a commit that does not continue what it published, so it resyncs, and the held commits after it are published once the snapshot is in"

const TABLES: Record<string, ScenarioTable> = {
  account_lifecycle: {
    fates: ['publish', 'publish', 'resync', 'publish'],
    deviations: {
      2: 'a #sync is never published itself: with no chain stored to compare its root with, the rules resync, and the snapshot is what reaches workers',
    },
  },
  deactivation: {
    fates: ['publish', 'publish', 'inactive', 'publish', 'desync', 'hold/publish', 'hold/publish', 'hold/publish'],
    deviations: {
      4: `${SINCE_GAP_LENIENT}; here the missing commit is frame 2 itself, refused while the account was deactivated, so the resync is what brings its post`,
    },
  },
  legacy: { fates: ['publish', 'publish', 'publish'], deviations: {} },
  post_lifecycle: { fates: ['publish', 'publish', 'publish', 'publish', 'publish', 'publish'], deviations: {} },
  post_lifecycle_legacy: {
    fates: ['publish', 'desync', 'hold/publish', 'hold/publish', 'hold/publish', 'hold/publish'],
    deviations: { 1: SINCE_GAP_LENIENT },
  },
  // Frame 1's rev ends in `00`: `0` is not base32-sortable, so it is no TID (the relay drops it as older than the stored rev, by string order).
  rev_ordering: { fates: ['publish', 'invalid-rev', 'stale', 'publish'], deviations: {} },
  seq_ordering: { fates: ['publish', 'not fed', 'not fed', 'publish'], deviations: {}, notFed: { 1: SEQ_RULE, 2: SEQ_RULE } },
}

interface AccountJson {
  identity: { did: string }
  status: string
}

/** Each account's state as the relay knows it before the first frame: its status, no chain yet. */
function initialStates(scenario: string): Map<string, RepoState> {
  const { accounts } = JSON.parse(readFileSync(join(REAL_DATA, 'indigo-relay-scenarios', `${scenario}.json`), 'utf8')) as { accounts: AccountJson[] }
  return new Map(accounts.map((a) => [a.identity.did, { rev: '', data: '', status: a.status, sync: 'synchronized' }]))
}

interface FrameResult {
  fate: Fate
  published: boolean
  statusChanged: boolean
}

/**
 * Runs a scenario through the rules, as the write path will: a desync or resync verdict starts a
 * resync at once; the repo's events meanwhile are held; the snapshot, taken at the head the
 * triggering event announced (what a getRepo sent right then returns), arrives after the last frame.
 */
function run(scenario: string): FrameResult[] {
  const states = initialStates(scenario)
  const table = TABLES[scenario]!
  const results: FrameResult[] = []
  const pending = new Map<string, { head: { rev: string; data: string }; held: ChainFacts[]; indexes: number[]; lastTimeMs: number }>()
  scenarioFrames(scenario).forEach((frame, index) => {
    if (table.notFed !== undefined && index in table.notFed) {
      results.push({ fate: 'not fed', published: false, statusChanged: false })
      return
    }
    const { event, facts } = decodeForRules(frame.bytes)
    const did = didOf(event)
    // Fake time: each frame is decided at the instant it was emitted, as a live consumer would.
    const nowMs = Date.parse(event.time)
    const before = states.get(did) ?? null
    const { verdict, state } = onEvent(before, facts, nowMs)
    if (state !== null) states.set(did, state)
    results.push({ fate: verdict.kind, published: verdict.kind === 'publish', statusChanged: before?.status !== state?.status })
    if (verdict.kind === 'desync' || verdict.kind === 'resync') {
      states.set(did, startResync(state!))
      const { rev, data } = facts as ChainFacts
      pending.set(did, { head: { rev, data }, held: [], indexes: [], lastTimeMs: nowMs })
    }
    if (verdict.kind === 'hold') {
      const resync = pending.get(did)!
      resync.held.push(facts as ChainFacts)
      resync.indexes.push(index)
      resync.lastTimeMs = nowMs
    }
  })
  for (const [did, { head, held, indexes, lastTimeMs }] of pending) {
    const outcome = afterSnapshot(states.get(did)!, head, held, lastTimeMs)
    expect(outcome.snapshot).toBe('published')
    states.set(did, outcome.state)
    outcome.held.forEach(({ verdict }, i) => {
      const result = results[indexes[i]!]!
      result.fate = `hold/${verdict.kind}`
      result.published = verdict.kind === 'publish'
    })
  }
  return results
}

describe('indigo relay scenarios: per-frame verdicts match the relay where its expectation is about per-repo state, and differ only where a consumer must', () => {
  it('covers every scenario in test/data/real', () => {
    expect(scenarioNames()).toEqual(Object.keys(TABLES).sort())
  })

  for (const scenario of Object.keys(TABLES)) {
    it(`${scenario}: the verdicts of the table`, () => {
      expect(run(scenario).map((r) => r.fate)).toEqual(TABLES[scenario]!.fates)
    })

    it(`${scenario}: published where the relay publishes, except the listed deviations`, () => {
      const results = run(scenario)
      const expectations = scenarioExpectations(scenario)
      const { deviations } = TABLES[scenario]!
      expectations.forEach((expected, index) => {
        const relayPublishes = !expected.drop && !expected.invalid
        const what = `${scenario} frame ${index} (${expected.t}, seq ${expected.seq})`
        if (index in deviations) expect(results[index]!.published, `${what} is a listed deviation: ${deviations[index]}`).toBe(!relayPublishes)
        else expect(results[index]!.published, what).toBe(relayPublishes)
        // `update`: the relay changed the account's stored state; the rules store the status an #account gives.
        if (expected.t === '#account') expect(results[index]!.statusChanged, `${what}: status changed`).toBe(expected.update)
      })
    })
  }
})

describe('seq_ordering: had the seq rule let the seq-5 copy through, the commit would still be published once (per-repo revs dedupe it)', () => {
  it('publishes the first copy and finds the second stale', () => {
    const [, , low, high] = scenarioFrames('seq_ordering').map((f) => decodeForRules(f.bytes))
    const nowMs = Date.parse(high!.event.time)
    const first = onCommit(null, low!.facts as CommitFacts, nowMs)
    expect(first.verdict).toEqual({ kind: 'publish', start: true })
    expect(onCommit(first.state, high!.facts as CommitFacts, nowMs).verdict).toEqual({ kind: 'stale' })
  })
})

describe('production commits (test/data/real/indigo-prod-commits: zero-based revs, since null, no prevData, 42 ops) pass the rules', () => {
  it('each starts its repo; on a stored chain, one with neither since nor prevData is applied unchecked (a documented limit)', () => {
    const frames = prodCommitFrames().map((f) => decodeForRules(f.bytes))
    expect(frames).toHaveLength(4)
    for (const { event, facts } of frames) {
      const commit = facts as CommitFacts
      const nowMs = Date.parse(event.time)
      expect(onCommit(null, commit, nowMs).verdict, event.time).toEqual({ kind: 'publish', start: true })
      const chain: RepoState = { rev: '2222222222222', data: commit.data, status: 'active', sync: 'synchronized' }
      const expected = commit.since === null && commit.prevData === null ? 'publish' : 'desync'
      expect(onCommit(chain, commit, nowMs).verdict.kind, `${commit.rev} since ${commit.since}`).toBe(expected)
    }
    expect(frames.filter(({ facts }) => (facts as CommitFacts).since === null)).toHaveLength(2)
  })
})

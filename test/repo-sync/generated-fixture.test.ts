import { existsSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { readFixtureFrames } from '../../fixture-file/index.js'
import { toStreamEntry } from '../../protocol/stream-entry.js'
import { afterSnapshot, onEvent, startResync } from '../../repo-sync/rules.js'
import type { ChainFacts, RepoState } from '../../repo-sync/types.js'
import { groundTruth, groundTruthOfFixture } from '../../stream-check/ground-truth.js'
import { ModelAppView, diffRepos, type ModelRecord, type Repos } from '../../stream-check/model-appview.js'
import { NO_COMMITTED_FIXTURE, skipAllTests } from '../support/skip.js'
import { decodeForRules, didOf, type DecodedForRules } from './helpers.js'

/** The committed fixture (1,500 frames of 75 accounts: fixtures/README.md) through the rules into the model AppView. */
const FIXTURE = new URL('../../fixtures/generated.fixture.gz', import.meta.url).pathname
const present = existsSync(FIXTURE)

let frames: Uint8Array[] = []
let decoded: DecodedForRules[] = []
let truth: Repos = new Map()

beforeAll(async () => {
  if (!present) return
  frames = await readFixtureFrames(FIXTURE)
  decoded = frames.map(decodeForRules)
  truth = await groundTruthOfFixture(FIXTURE)
})

/** Fake time: each frame is decided at its own `time`, as a live consumer would. */
const timeOf = (d: DecodedForRules): number => Date.parse(d.event.time)

describe('a clean generated stream: every commit continues its repo and every #sync re-signs it, so all is published and the model equals the ground truth', () => {
  skipAllTests(present ? null : NO_COMMITTED_FIXTURE)

  it('publishes every commit, #account and #identity; every #sync is rev-only', () => {
    const states = new Map<string, RepoState>()
    const model = new ModelAppView()
    const verdicts: Record<string, Record<string, number>> = {}
    for (const d of decoded) {
      const did = didOf(d.event)
      const { verdict, state } = onEvent(states.get(did) ?? null, d.facts, timeOf(d))
      if (state !== null) states.set(did, state)
      const byKind = (verdicts[d.event.type] ??= {})
      byKind[verdict.kind] = (byKind[verdict.kind] ?? 0) + 1
      if (verdict.kind === 'publish') model.apply(toStreamEntry(d.event))
    }
    expect(verdicts).toEqual({ commit: { publish: 1449 }, identity: { publish: 24 }, account: { publish: 19 }, sync: { 'rev-only': 8 } })
    expect(diffRepos(model.repos(), truth)).toEqual([])
    expect([...states.values()].every((s) => s.sync === 'synchronized')).toBe(true)
  })
})

describe('a commit lost upstream: the next commit of its repo desynchronizes it (since), and the resync gives the model exactly the ground truth', () => {
  skipAllTests(present ? null : NO_COMMITTED_FIXTURE)

  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}`, () => {
      const random = new SeededRandom(seed)
      // A commit whose repo committed before (a repo's first commit seen starts its chain: nothing can tell what came before it)
      // and commits again later (so that the loss shows).
      const commits = decoded.flatMap((d, index) => (d.event.type === 'commit' ? [{ index, did: d.event.repo }] : []))
      const candidates = commits.filter((c, i) => commits.slice(0, i).some((earlier) => earlier.did === c.did) && commits.slice(i + 1).some((later) => later.did === c.did))
      const lost = random.pick(candidates)
      const states = new Map<string, RepoState>()
      const model = new ModelAppView()
      let resync: { fetchIndex: number; completeIndex: number; held: ChainFacts[]; heldAt: number[] } | null = null
      const desyncs: unknown[] = []

      decoded.forEach((d, index) => {
        if (index !== lost.index) {
          const did = didOf(d.event)
          const { verdict, state } = onEvent(states.get(did) ?? null, d.facts, timeOf(d))
          if (state !== null) states.set(did, state)
          if (verdict.kind === 'publish') model.apply(toStreamEntry(d.event))
          if (verdict.kind === 'desync') {
            desyncs.push(verdict)
            states.set(did, startResync(states.get(did)!))
            // The fetch reads the repo a few frames later, the answer lands a few more after: what arrives meanwhile is held.
            const fetchIndex = index + random.int(0, 20)
            resync = { fetchIndex, completeIndex: fetchIndex + random.int(0, 20), held: [], heldAt: [] }
          }
          if (verdict.kind === 'hold') {
            resync!.held.push(d.facts as ChainFacts)
            resync!.heldAt.push(index)
          }
        }
        if (resync !== null && index === Math.min(resync.completeIndex, decoded.length - 1)) {
          // The PDS's repo at the fetch: every frame up to it, the lost one included (the PDS has it).
          const fetched = Math.min(resync.fetchIndex, decoded.length - 1)
          const records = groundTruth(frames.slice(0, fetched + 1)).get(lost.did) ?? new Map<string, ModelRecord>()
          const head = [...decoded.slice(0, fetched + 1)].reverse().find((e) => didOf(e.event) === lost.did && e.event.type === 'commit')!.facts as ChainFacts
          const outcome = afterSnapshot(states.get(lost.did)!, { rev: head.rev, data: head.data }, resync.held, timeOf(d))
          expect(outcome.snapshot).toBe('published')
          model.applySnapshot(lost.did, { rev: head.rev, records: [...records].map(([path, r]) => ({ path, ...r })) })
          outcome.held.forEach(({ verdict }, i) => {
            if (verdict.kind === 'publish') model.apply(toStreamEntry(decoded[resync!.heldAt[i]!]!.event))
          })
          states.set(lost.did, outcome.state)
          resync = null
        }
      })

      const lostEvent = decoded[lost.index]!.event
      expect(desyncs, `seed ${seed}: lost frame ${lost.index}`).toEqual([
        { kind: 'desync', cause: 'since', expected: lostEvent.type === 'commit' ? lostEvent.since : '', got: (decoded[lost.index]!.facts as ChainFacts).rev },
      ])
      expect(diffRepos(model.repos(), truth), `seed ${seed}: lost frame ${lost.index}`).toEqual([])
      expect(states.get(lost.did)!.sync).toBe('synchronized')
    })
  }
})

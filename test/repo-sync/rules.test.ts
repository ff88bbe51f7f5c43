import { describe, expect, it } from 'vitest'
import { RepoSyncError } from '../../repo-sync/errors.js'
import { FUTURE_REV_TOLERANCE_MS, afterResyncFailed, afterSnapshot, onAccount, onCommit, onEvent, onIdentity, onSync, startBackfill, startResync, statusOf } from '../../repo-sync/rules.js'
import type { ChainFacts, CommitFacts, RepoState, SyncFacts } from '../../repo-sync/types.js'
import { FakeTimers } from '../support/fake-timers.js'
import { cidOf, tidAt } from './helpers.js'

const START_MS = Date.UTC(2025, 5, 2, 14)
const clock = new FakeTimers(START_MS)

/** A rev `secondsAgo` before the fake clock's start (so every rev here is in the past unless a test says otherwise). */
const rev = (secondsAgo: number): string => tidAt(START_MS - secondsAgo * 1000)
const R1 = rev(300)
const R2 = rev(200)
const R3 = rev(100)
const R4 = rev(50)
const D1 = cidOf('root 1')
const D2 = cidOf('root 2')
const D3 = cidOf('root 3')
const D4 = cidOf('root 4')

const synced = (overrides: Partial<RepoState> = {}): RepoState => ({ rev: R2, data: D2, status: 'active', sync: 'synchronized', ...overrides })
const commit = (overrides: Partial<CommitFacts> = {}): CommitFacts => ({ type: 'commit', rev: R3, since: R2, prevData: D2, data: D3, ...overrides })
const sync = (overrides: Partial<SyncFacts> = {}): SyncFacts => ({ type: 'sync', rev: R3, data: D3, ...overrides })

describe("#commit: a repo's first commit starts its chain (there is nothing stored for it to continue)", () => {
  it('publishes it and stores its rev and root, whatever its since and prevData say', () => {
    const { verdict, state } = onCommit(null, commit({ since: rev(9999), prevData: cidOf('unknown') }), clock.now())
    expect(verdict).toEqual({ kind: 'publish', start: true })
    expect(state).toEqual({ rev: R3, data: D3, status: 'active', sync: 'synchronized' })
  })

  it('keeps the status an #account stored before any commit', () => {
    const account = onAccount(null, { type: 'account', active: true, status: null }).state
    expect(onCommit(account, commit(), clock.now()).state).toEqual({ rev: R3, data: D3, status: 'active', sync: 'synchronized' })
  })

  it("publishes a freshly created repo's first commit (since and prevData null)", () => {
    expect(onCommit(null, commit({ since: null, prevData: null }), clock.now()).verdict).toEqual({ kind: 'publish', start: true })
  })
})

describe('#commit: a rev at or below the stored one was already applied (a replay, a duplicate, a fallback relay): skipped as stale', () => {
  it.each([
    ['equal', R2],
    ['lower', R1],
  ])('%s rev', (_what, staleRev) => {
    const state = synced()
    const decision = onCommit(state, commit({ rev: staleRev }), clock.now())
    expect(decision.verdict).toEqual({ kind: 'stale' })
    expect(decision.state).toBe(state)
  })

  it('is stale before anything else is looked at: an old copy of an inactive or desynchronized repo is still just old', () => {
    expect(onCommit(synced({ status: 'takendown' }), commit({ rev: R1 }), clock.now()).verdict).toEqual({ kind: 'stale' })
    expect(onCommit(synced({ sync: 'desynchronized' }), commit({ rev: R1 }), clock.now()).verdict).toEqual({ kind: 'stale' })
    expect(onCommit(synced(), commit({ rev: R2, since: 'nonsense', prevData: D4 }), clock.now()).verdict).toEqual({ kind: 'stale' })
  })
})

describe('#commit: a rev dated more than 5 minutes after now is dead-lettered (stored, it would make every later rev stale)', () => {
  it('accepts a rev exactly 5 minutes ahead and refuses one a millisecond further, leaving the state as it was', () => {
    const state = synced()
    const edge = tidAt(clock.now() + FUTURE_REV_TOLERANCE_MS)
    const beyond = tidAt(clock.now() + FUTURE_REV_TOLERANCE_MS + 1)
    expect(onCommit(state, commit({ rev: edge }), clock.now()).verdict.kind).toBe('publish')
    const refused = onCommit(state, commit({ rev: beyond }), clock.now())
    expect(refused.verdict).toEqual({ kind: 'future', revTimeMs: clock.now() + FUTURE_REV_TOLERANCE_MS + 1 })
    expect(refused.state).toBe(state)
  })

  it('judges by the injected time: the same rev passes once the clock has caught up', () => {
    const local = new FakeTimers(START_MS)
    const ahead = commit({ rev: tidAt(START_MS + 10 * 60_000) })
    expect(onCommit(synced(), ahead, local.now()).verdict.kind).toBe('future')
    local.advance(5 * 60_000)
    expect(onCommit(synced(), ahead, local.now()).verdict.kind).toBe('publish')
  })

  it('is checked first, even for a repo with no state (a first commit from the future would anchor the chain there)', () => {
    expect(onCommit(null, commit({ rev: tidAt(clock.now() + 3_600_000) }), clock.now()).verdict.kind).toBe('future')
  })
})

describe('#commit: a rev that is not a TID cannot be ordered, so it is dead-lettered', () => {
  it.each(['3lmxjza3nva00', '', 'not-a-tid', '3LMXJZA3NVA27'])('%j', (bad) => {
    const state = synced()
    expect(onCommit(state, commit({ rev: bad }), clock.now())).toEqual({ verdict: { kind: 'invalid-rev' }, state })
    expect(onCommit(null, commit({ rev: bad }), clock.now())).toEqual({ verdict: { kind: 'invalid-rev' }, state: null })
  })
})

describe('#commit: since or prevData other than the stored rev and root desynchronizes the repo (a commit was lost, or the repo was reset)', () => {
  it('since: desync with both values, the state keeping the last good rev and root', () => {
    const { verdict, state } = onCommit(synced(), commit({ since: R1 }), clock.now())
    expect(verdict).toEqual({ kind: 'desync', cause: 'since', expected: R2, got: R1 })
    expect(state).toEqual(synced({ sync: 'desynchronized' }))
  })

  it('prevData: desync with both values', () => {
    const { verdict, state } = onCommit(synced(), commit({ prevData: D1 }), clock.now())
    expect(verdict).toEqual({ kind: 'desync', cause: 'prevData', expected: D2, got: D1 })
    expect(state).toEqual(synced({ sync: 'desynchronized' }))
  })

  it('both: the cause named is since (checked first)', () => {
    expect(onCommit(synced(), commit({ since: R1, prevData: D1 }), clock.now()).verdict).toMatchObject({ kind: 'desync', cause: 'since' })
  })

  it('continuing commits are published and move the state', () => {
    const first = onCommit(synced(), commit(), clock.now())
    expect(first).toEqual({ verdict: { kind: 'publish', start: false }, state: synced({ rev: R3, data: D3 }) })
    expect(onCommit(first.state, commit({ rev: R4, since: R3, prevData: D3, data: D4 }), clock.now()).state).toEqual(synced({ rev: R4, data: D4 }))
  })
})

describe('#commit: only the chain fields a commit carries are checked (production sends since "", legacy commits have no prevData)', () => {
  it('since "" or null: prevData alone decides', () => {
    for (const since of ['', null]) {
      expect(onCommit(synced(), commit({ since }), clock.now()).verdict.kind).toBe('publish')
      expect(onCommit(synced(), commit({ since, prevData: D1 }), clock.now()).verdict).toMatchObject({ kind: 'desync', cause: 'prevData' })
    }
  })

  it('prevData null: since alone decides', () => {
    expect(onCommit(synced(), commit({ prevData: null }), clock.now()).verdict.kind).toBe('publish')
    expect(onCommit(synced(), commit({ prevData: null, since: R1 }), clock.now()).verdict).toMatchObject({ kind: 'desync', cause: 'since' })
  })

  it('neither: nothing to check against, published', () => {
    expect(onCommit(synced(), commit({ since: null, prevData: null, data: cidOf('anything') }), clock.now()).verdict.kind).toBe('publish')
  })
})

describe('#commit: a commit that changes no record (zero ops: the same root) is still a commit, published with its rev', () => {
  it('moves the rev and keeps the root', () => {
    expect(onCommit(synced(), commit({ data: D2 }), clock.now())).toEqual({ verdict: { kind: 'publish', start: false }, state: synced({ rev: R3 }) })
  })
})

describe("#commit: an inactive account's commits are not published and leave the state as it was, so that its return is caught up by a resync", () => {
  it.each(['takendown', 'suspended', 'deleted', 'deactivated', 'inactive', 'some-new-status'])('%s', (status) => {
    const state = synced({ status })
    expect(onCommit(state, commit(), clock.now())).toEqual({ verdict: { kind: 'inactive', status }, state })
  })

  it('after reactivation, a commit continuing one refused while inactive desynchronizes the repo (its records were never published)', () => {
    const inactive = onAccount(synced(), { type: 'account', active: false, status: 'deactivated' }).state
    expect(onCommit(inactive, commit(), clock.now()).verdict.kind).toBe('inactive')
    const back = onAccount(inactive, { type: 'account', active: true, status: null }).state
    expect(onCommit(back, commit({ rev: R4, since: R3, prevData: D3, data: D4 }), clock.now()).verdict).toEqual({ kind: 'desync', cause: 'since', expected: R2, got: R3 })
  })

  it('with no chain stored (the account taken down before its first commit seen), the refusal desynchronizes the repo: its next commit cannot start the chain without these records', () => {
    const down = onAccount(null, { type: 'account', active: false, status: 'takendown' }).state!
    const refused = onCommit(down, commit({ since: null, prevData: null }), clock.now())
    expect(refused).toEqual({ verdict: { kind: 'inactive', status: 'takendown' }, state: { ...down, sync: 'desynchronized' } })
    const back = onAccount(refused.state, { type: 'account', active: true, status: null }).state
    expect(onCommit(back, commit({ rev: R4, since: R3, prevData: D3, data: D4 }), clock.now()).verdict).toEqual({ kind: 'dropped-desynchronized' })
  })
})

describe('#commit: a desynchronized repo publishes nothing until its resync (the snapshot, fetched later, covers what is dropped)', () => {
  it('drops a newer commit, even a continuing one', () => {
    const state = synced({ sync: 'desynchronized' })
    expect(onCommit(state, commit(), clock.now())).toEqual({ verdict: { kind: 'dropped-desynchronized' }, state })
  })
})

describe("#commit: a resyncing repo's commits are held, to be decided when the snapshot is in", () => {
  it('holds a newer commit', () => {
    const state = synced({ sync: 'resyncing' })
    expect(onCommit(state, commit(), clock.now())).toEqual({ verdict: { kind: 'hold' }, state })
  })

  it('an inactive account is not held: refused at once', () => {
    expect(onCommit(synced({ sync: 'resyncing', status: 'suspended' }), commit(), clock.now()).verdict.kind).toBe('inactive')
  })
})

describe('#sync: ignored at or below the stored rev; the same root stores the new rev only; another root resyncs', () => {
  it('ignores an old or equal rev', () => {
    const state = synced()
    expect(onSync(state, sync({ rev: R2, data: D4 }), clock.now())).toEqual({ verdict: { kind: 'ignore' }, state })
    expect(onSync(state, sync({ rev: R1 }), clock.now()).verdict).toEqual({ kind: 'ignore' })
  })

  it('same root: the rev is stored, so that the next commit (whose since is that rev) continues', () => {
    const { verdict, state } = onSync(synced(), sync({ data: D2 }), clock.now())
    expect(verdict).toEqual({ kind: 'rev-only' })
    expect(state).toEqual(synced({ rev: R3 }))
    expect(onCommit(state, commit({ rev: R4, since: R3, prevData: D2, data: D4 }), clock.now()).verdict.kind).toBe('publish')
  })

  it('another root (a reset, a migration): resync, the state keeping the last good rev and root', () => {
    expect(onSync(synced(), sync(), clock.now())).toEqual({ verdict: { kind: 'resync', reason: 'new-data' }, state: synced({ sync: 'desynchronized' }) })
  })

  it('no chain stored: resync, since a #sync carries no records and nothing says what the AppView holds', () => {
    expect(onSync(null, sync(), clock.now())).toEqual({ verdict: { kind: 'resync', reason: 'no-chain' }, state: { rev: '', data: '', status: 'active', sync: 'desynchronized' } })
    const accountOnly = onAccount(null, { type: 'account', active: true, status: null }).state
    expect(onSync(accountOnly, sync(), clock.now()).state).toEqual({ rev: '', data: '', status: 'active', sync: 'desynchronized' })
  })

  it('shares the checks of #commit: invalid and future revs, inactive accounts, desynchronized and resyncing repos', () => {
    expect(onSync(synced(), sync({ rev: '3lmxjza3nva00' }), clock.now()).verdict).toEqual({ kind: 'invalid-rev' })
    expect(onSync(null, sync({ rev: tidAt(clock.now() + 3_600_000) }), clock.now()).verdict.kind).toBe('future')
    expect(onSync(synced({ status: 'takendown' }), sync(), clock.now()).verdict).toEqual({ kind: 'inactive', status: 'takendown' })
    expect(onSync(synced({ sync: 'desynchronized' }), sync(), clock.now()).verdict).toEqual({ kind: 'dropped-desynchronized' })
    expect(onSync(synced({ sync: 'resyncing' }), sync(), clock.now()).verdict).toEqual({ kind: 'hold' })
  })
})

describe('#account: the status is stored and the event published as ever', () => {
  it.each<[boolean, string | null, string]>([
    [true, null, 'active'],
    [true, 'takendown', 'active'],
    [false, 'takendown', 'takendown'],
    [false, 'deleted', 'deleted'],
    [false, 'throttled', 'throttled'],
    [false, 'a-status-nobody-knows-yet', 'a-status-nobody-knows-yet'],
    [false, null, 'inactive'],
    [false, '', 'inactive'],
    [false, 'active', 'inactive'],
    [false, 'x'.repeat(65), 'inactive'],
  ])('active %s, status %j -> %s', (active, status, expected) => {
    expect(statusOf({ type: 'account', active, status })).toBe(expected)
    const { verdict, state } = onAccount(synced(), { type: 'account', active, status })
    expect(verdict).toEqual({ kind: 'publish' })
    expect(state).toEqual(synced({ status: expected }))
  })

  it('creates a state with no chain for a DID seen first by its #account, and changes nothing when the status is the same', () => {
    expect(onAccount(null, { type: 'account', active: false, status: 'deactivated' }).state).toEqual({ rev: '', data: '', status: 'deactivated', sync: 'synchronized' })
    const state = synced()
    expect(onAccount(state, { type: 'account', active: true, status: null }).state).toBe(state)
  })
})

describe('#identity: published as ever, per-repo state untouched', () => {
  it('publishes and returns the very state', () => {
    const state = synced()
    expect(onIdentity(state)).toEqual({ verdict: { kind: 'publish' }, state })
    expect(onIdentity(null)).toEqual({ verdict: { kind: 'publish' }, state: null })
  })
})

describe('onEvent applies the rule of the event kind', () => {
  it('dispatches each kind', () => {
    const state = synced()
    const now = clock.now()
    expect(onEvent(state, commit(), now)).toEqual(onCommit(state, commit(), now))
    expect(onEvent(state, sync(), now)).toEqual(onSync(state, sync(), now))
    expect(onEvent(state, { type: 'account', active: false, status: 'deleted' }, now)).toEqual(onAccount(state, { type: 'account', active: false, status: 'deleted' }))
    expect(onEvent(state, { type: 'identity' }, now)).toEqual(onIdentity(state))
  })
})

describe('resync: desynchronized -> resyncing -> synchronized, each step only from the one before (a step from elsewhere is a caller bug)', () => {
  const resyncing = synced({ sync: 'resyncing' })

  it('startResync moves a desynchronized repo to resyncing and refuses any other', () => {
    expect(startResync(synced({ sync: 'desynchronized' }))).toEqual(resyncing)
    for (const from of ['synchronized', 'resyncing'] as const) {
      expect(() => startResync(synced({ sync: from }))).toThrow(expect.objectContaining({ code: 'REPO_SYNC_BAD_TRANSITION' }))
    }
  })

  it('afterSnapshot and afterResyncFailed refuse a repo that is not resyncing', () => {
    expect(() => afterSnapshot(synced(), { rev: R3, data: D3 }, [], clock.now())).toThrow(RepoSyncError)
    expect(() => afterResyncFailed(synced({ sync: 'desynchronized' }), [])).toThrow(expect.objectContaining({ code: 'REPO_SYNC_BAD_TRANSITION' }))
  })

  it('afterSnapshot refuses a snapshot whose rev is not a TID', () => {
    expect(() => afterSnapshot(resyncing, { rev: 'nope', data: D3 }, [], clock.now())).toThrow(expect.objectContaining({ code: 'REPO_SYNC_BAD_REV' }))
  })
})

describe('afterSnapshot: held events at or below the snapshot rev are covered by it; the later ones are published in order if they continue it', () => {
  const resyncing = synced({ sync: 'resyncing' })
  const R5 = rev(20)
  const D5 = cidOf('root 5')

  it('covers the old, publishes the new, and stores the last published', () => {
    const held: ChainFacts[] = [commit(), commit({ rev: R4, since: R3, prevData: D3, data: D4 }), commit({ rev: R5, since: R4, prevData: D4, data: D5 })]
    const outcome = afterSnapshot(resyncing, { rev: R4, data: D4 }, held, clock.now())
    expect(outcome.snapshot).toBe('published')
    expect(outcome.held.map((h) => h.verdict.kind)).toEqual(['covered', 'covered', 'publish'])
    expect(outcome.held.map((h) => h.event)).toEqual(held)
    expect(outcome.state).toEqual(synced({ rev: R5, data: D5, whole: true }))
  })

  it('a held commit that does not continue the snapshot desynchronizes the repo again; the rest are dropped', () => {
    const held: ChainFacts[] = [commit({ rev: R4, since: R3, prevData: D3, data: D4 }), commit({ rev: R5, since: R4, prevData: D4, data: D5 })]
    const outcome = afterSnapshot(resyncing, { rev: R3, data: cidOf('the mirror saw another root') }, held, clock.now())
    expect(outcome.held.map((h) => h.verdict.kind)).toEqual(['desync', 'dropped-desynchronized'])
    expect(outcome.state.sync).toBe('desynchronized')
  })

  it('a held #sync is decided on the snapshot: same root -> rev-only, another -> resync again', () => {
    expect(afterSnapshot(resyncing, { rev: R3, data: D3 }, [sync({ rev: R4, data: D3 })], clock.now()).held[0]!.verdict).toEqual({ kind: 'rev-only' })
    const again = afterSnapshot(resyncing, { rev: R3, data: D3 }, [sync({ rev: R4, data: D4 })], clock.now())
    expect(again.held[0]!.verdict).toEqual({ kind: 'resync', reason: 'new-data' })
    expect(again.state).toEqual(synced({ rev: R3, data: D3, sync: 'desynchronized' }))
  })

  it('held commits of an account that went inactive meanwhile are not published', () => {
    const outcome = afterSnapshot(synced({ sync: 'resyncing', status: 'takendown' }), { rev: R3, data: D3 }, [commit({ rev: R4, since: R3, prevData: D3, data: D4 })], clock.now())
    expect(outcome.held[0]!.verdict).toEqual({ kind: 'inactive', status: 'takendown' })
    expect(outcome.state).toEqual(synced({ rev: R3, data: D3, status: 'takendown', whole: true }))
  })

  it('a repo resynced from no chain at all takes the snapshot as its start', () => {
    const outcome = afterSnapshot({ rev: '', data: '', status: 'active', sync: 'resyncing' }, { rev: R3, data: D3 }, [], clock.now())
    expect(outcome).toEqual({ snapshot: 'published', held: [], state: synced({ rev: R3, data: D3, whole: true }) })
  })
})

describe('afterSnapshot: a snapshot not newer than what was published is not published (it would take records back, or repeat them)', () => {
  const held: ChainFacts[] = [commit()]

  it('older than the stored rev (a lagging mirror): stale, the repo desynchronized again, held events dropped', () => {
    const outcome = afterSnapshot(synced({ sync: 'resyncing' }), { rev: R1, data: D1 }, held, clock.now())
    expect(outcome).toEqual({ snapshot: 'stale', held: [{ event: held[0], verdict: { kind: 'dropped-desynchronized' } }], state: synced({ sync: 'desynchronized' }) })
  })

  it('the same rev with another root: stale too', () => {
    expect(afterSnapshot(synced({ sync: 'resyncing' }), { rev: R2, data: D1 }, held, clock.now()).snapshot).toBe('stale')
  })

  it('exactly the stored rev and root: unchanged, nothing to publish, the held events decided on it', () => {
    const outcome = afterSnapshot(synced({ sync: 'resyncing' }), { rev: R2, data: D2 }, held, clock.now())
    expect(outcome.snapshot).toBe('unchanged')
    expect(outcome.held[0]!.verdict).toEqual({ kind: 'publish', start: false })
    // Not whole: nothing was published, the stream holds what it held.
    expect(outcome.state).toEqual(synced({ rev: R3, data: D3 }))
  })
})

describe('backfill: a repo a backfill asks for is resynced from any state, and its snapshot is published even at the stored rev (the records before the chain never were)', () => {
  it('startBackfill moves any state, or none, to resyncing and keeps the chain and status', () => {
    expect(startBackfill(null)).toEqual({ rev: '', data: '', status: 'active', sync: 'resyncing' })
    for (const from of ['synchronized', 'desynchronized', 'resyncing'] as const) expect(startBackfill(synced({ sync: from, status: 'deactivated' }))).toEqual(synced({ sync: 'resyncing', status: 'deactivated' }))
  })

  it('a snapshot makes the repo whole (it holds every record); leaving synchronized drops that (what is lost or fetched anew is not)', () => {
    const whole = afterSnapshot(synced({ sync: 'resyncing' }), { rev: R3, data: D3 }, [], clock.now()).state
    expect(whole).toEqual(synced({ rev: R3, data: D3, whole: true }))
    expect(onCommit(whole, commit({ rev: R4, since: R3, prevData: D3, data: D4 }), clock.now()).state).toEqual(synced({ rev: R4, data: D4, whole: true }))
    expect(onCommit(whole, commit({ rev: R4, since: R2, prevData: D2, data: D4 }), clock.now()).state).toEqual(synced({ rev: R3, data: D3, sync: 'desynchronized' }))
    expect(startBackfill(whole)).toEqual(synced({ rev: R3, data: D3, sync: 'resyncing' }))
  })

  it('afterSnapshot whole: the stored rev and root are published; an older snapshot is still stale', () => {
    expect(afterSnapshot(synced({ sync: 'resyncing' }), { rev: R2, data: D2 }, [], clock.now(), true)).toEqual({ snapshot: 'published', held: [], state: synced({ whole: true }) })
    expect(afterSnapshot(synced({ sync: 'resyncing' }), { rev: R1, data: D1 }, [], clock.now(), true).snapshot).toBe('stale')
  })
})

describe('afterResyncFailed: the repo waits for the next attempt, desynchronized; what was held is dropped, counted (the next snapshot is fetched later and covers it)', () => {
  it('drops every held event', () => {
    const held: ChainFacts[] = [commit(), sync({ rev: R4 })]
    const outcome = afterResyncFailed(synced({ sync: 'resyncing' }), held)
    expect(outcome.held.map((h) => h.verdict.kind)).toEqual(['dropped-desynchronized', 'dropped-desynchronized'])
    expect(outcome.state).toEqual(synced({ sync: 'desynchronized' }))
  })
})

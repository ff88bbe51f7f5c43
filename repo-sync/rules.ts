/**
 * The per-repo rules of Sync 1.1 (issue 18, part 2): one pure function per event kind, from the
 * stored state and the event to a verdict and the state to store; the resync lifecycle
 * (desynchronized -> resyncing -> synchronized) in three more. No I/O; time comes in as `nowMs`.
 * Why each rule is what it is: docs/repo-sync.md, "Per-repo rules".
 */
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'
import { compareRevs, isTid, tidTimestampMs } from './tid.js'
import {
  MAX_STATUS_BYTES,
  type AccountFacts,
  type AccountStatus,
  type AccountVerdict,
  type ChainFacts,
  type CommitFacts,
  type CommitVerdict,
  type Decision,
  type DesyncCause,
  type HeldVerdict,
  type RefusedVerdict,
  type RepoEventFacts,
  type RepoState,
  type SnapshotHead,
  type SnapshotOutcome,
  type SyncFacts,
  type SyncState,
  type SyncVerdict,
} from './types.js'

/** A rev dated more than this after now is refused (the relay's `futureRevTolerance`). */
export const FUTURE_REV_TOLERANCE_MS = 5 * 60_000

/** The rule of the event's kind. */
export function onEvent(state: RepoState | null, event: RepoEventFacts, nowMs: number): Decision<CommitVerdict | SyncVerdict | AccountVerdict> {
  switch (event.type) {
    case 'commit':
      return onCommit(state, event, nowMs)
    case 'sync':
      return onSync(state, event, nowMs)
    case 'account':
      return onAccount(state, event)
    case 'identity':
      return onIdentity(state)
  }
}

/** `#commit`: see "Per-repo rules" for the order of the checks, which decides the verdict when several apply. */
export function onCommit(state: RepoState | null, commit: CommitFacts, nowMs: number): Decision<CommitVerdict> {
  const refused = refusedRev(commit.rev, nowMs)
  if (refused !== null) return { verdict: refused, state }
  const chained = withChain(state)
  if (chained !== null && compareRevs(commit.rev, chained.rev) <= 0) return { verdict: { kind: 'stale' }, state }
  const gated = gate(state)
  // An inactive account's commit with no chain stored: once the account is back, its next commit
  // would start the chain without this one's records, so the repo waits for a resync instead.
  if (gated?.kind === 'inactive' && chained === null && state !== null && state.sync === 'synchronized') return { verdict: gated, state: withSync(state, 'desynchronized') }
  if (gated !== null) return { verdict: gated, state }
  if (chained === null) {
    // Nothing to continue: the repo's chain starts here. A relay forwards commits of active accounts only, so a repo first seen by a commit is active.
    return { verdict: { kind: 'publish', start: true }, state: { rev: commit.rev, data: commit.data, status: state?.status ?? 'active', sync: 'synchronized' } }
  }
  // Production relays send `since: ""` where they mean none; a legacy commit has no prevData. Each check runs on what the commit carries.
  const since = commit.since === '' ? null : commit.since
  if (since !== null && since !== chained.rev) return desync(chained, 'since', chained.rev, since)
  if (commit.prevData !== null && commit.prevData !== chained.data) return desync(chained, 'prevData', chained.data, commit.prevData)
  return { verdict: { kind: 'publish', start: false }, state: { ...chained, rev: commit.rev, data: commit.data } }
}

/** `#sync`: a repo announcing its current root. Never published itself: when its root is news, a snapshot is. */
export function onSync(state: RepoState | null, sync: SyncFacts, nowMs: number): Decision<SyncVerdict> {
  const refused = refusedRev(sync.rev, nowMs)
  if (refused !== null) return { verdict: refused, state }
  const chained = withChain(state)
  if (chained !== null && compareRevs(sync.rev, chained.rev) <= 0) return { verdict: { kind: 'ignore' }, state }
  const gated = gate(state)
  if (gated !== null) return { verdict: gated, state }
  if (chained === null) {
    // A #sync carries no records and we know nothing the AppView holds for this repo: only a fetch can bring it up to date.
    const base: RepoState = state ?? { rev: '', data: '', status: 'active', sync: 'desynchronized' }
    return { verdict: { kind: 'resync', reason: 'no-chain' }, state: withSync(base, 'desynchronized') }
  }
  if (sync.data === chained.data) return { verdict: { kind: 'rev-only' }, state: { ...chained, rev: sync.rev } }
  return { verdict: { kind: 'resync', reason: 'new-data' }, state: withSync(chained, 'desynchronized') }
}

/** `#account`: the status is stored; the event is published as ever. */
export function onAccount(state: RepoState | null, account: AccountFacts): Decision<AccountVerdict> {
  const status = statusOf(account)
  if (state === null) return { verdict: { kind: 'publish' }, state: { rev: '', data: '', status, sync: 'synchronized' } }
  return { verdict: { kind: 'publish' }, state: status === state.status ? state : { ...state, status } }
}

/** `#identity`: published as ever; per-repo state has nothing to do with it. */
export function onIdentity(state: RepoState | null): Decision<AccountVerdict> {
  return { verdict: { kind: 'publish' }, state }
}

/** A resync begins (the fetch is about to run): from now on the repo's `#commit` and `#sync` are held. */
export function startResync(state: RepoState): RepoState {
  requireSync(state, 'desynchronized', 'start a resync')
  return withSync(state, 'resyncing')
}

/**
 * A backfill begins (docs/backfill.md): from any state, even none or synchronized, since the
 * records before the chain the stream carries were never published. The chain is kept, so a
 * snapshot older than what the stream published is still refused (afterSnapshot), and one at the
 * stored rev is published (`whole`); from now on the repo's `#commit` and `#sync` are held.
 */
export function startBackfill(state: RepoState | null): RepoState {
  return state === null ? { rev: '', data: '', status: 'active', sync: 'resyncing' } : withSync(state, 'resyncing')
}

/** The fetch failed: the repo waits for the next attempt, and what was held is dropped (the next snapshot, fetched later, covers it). */
export function afterResyncFailed<E extends ChainFacts>(state: RepoState, held: readonly E[]): Omit<SnapshotOutcome<E>, 'snapshot'> {
  requireSync(state, 'resyncing', 'fail a resync')
  return backToDesynchronized(state, held)
}

/**
 * The fetch brought the repo at `snapshot`: the state takes the snapshot's rev and root, then the
 * held events (in arrival order) are decided again on it: those at or below the snapshot's rev
 * are covered by it; the others go through the rules, so the first of them must continue the
 * snapshot (a lagging mirror's snapshot fails that and the repo is desynchronized again).
 */
export function afterSnapshot<E extends ChainFacts>(state: RepoState, snapshot: SnapshotHead, held: readonly E[], nowMs: number, whole = false): SnapshotOutcome<E> {
  requireSync(state, 'resyncing', 'apply a snapshot')
  if (!isTid(snapshot.rev)) throw new RepoSyncError(RepoSyncErrorCode.BadRev, `snapshot rev ${JSON.stringify(snapshot.rev.slice(0, 40))} is not a TID`, { rev: snapshot.rev.slice(0, 40) })
  let kind: SnapshotOutcome<E>['snapshot'] = 'published'
  if (withChain(state) !== null) {
    const order = compareRevs(snapshot.rev, state.rev)
    // Older than what was published (or another root at the same rev): applying it would take records back in time.
    if (order < 0 || (order === 0 && snapshot.data !== state.data)) return { snapshot: 'stale', ...backToDesynchronized(state, held) }
    // A backfill (`whole`) publishes the repo at the stored rev too: its records before the chain never were.
    if (order === 0 && !whole) kind = 'unchanged'
  }
  // Published, the snapshot put every record in the stream; unchanged, it put none (the stream holds what it held).
  let current: RepoState = kind === 'published' ? { ...state, rev: snapshot.rev, data: snapshot.data, sync: 'synchronized', whole: true } : withSync(state, 'synchronized')
  const outcomes = held.map((event): { event: E; verdict: HeldVerdict } => {
    const facts: ChainFacts = event
    if (compareRevs(facts.rev, snapshot.rev) <= 0) return { event, verdict: { kind: 'covered' } }
    const decision = facts.type === 'commit' ? onCommit(current, facts, nowMs) : onSync(current, facts, nowMs)
    current = decision.state ?? current
    return { event, verdict: decision.verdict }
  })
  return { snapshot: kind, held: outcomes, state: current }
}

export function isActive(status: AccountStatus): boolean {
  return status === 'active'
}

/** The status an `#account` means: `active`, the reason given, or `inactive` when none is given (or it is too long to keep). */
export function statusOf(account: AccountFacts): AccountStatus {
  if (account.active) return 'active'
  const status = account.status
  if (status === null || status === '' || status === 'active' || Buffer.byteLength(status) > MAX_STATUS_BYTES) return 'inactive'
  return status
}

/** The state when it holds a chain (a rev and a root), else null: a state made by an `#account` alone has none. */
function withChain(state: RepoState | null): RepoState | null {
  return state !== null && state.rev !== '' ? state : null
}

/** First checks of `#commit` and `#sync`: a rev must be orderable, and a rev from the future must never be stored (it would make every later rev stale). */
function refusedRev(rev: string, nowMs: number): RefusedVerdict | null {
  if (!isTid(rev)) return { kind: 'invalid-rev' }
  const revTimeMs = tidTimestampMs(rev)
  return revTimeMs > nowMs + FUTURE_REV_TOLERANCE_MS ? { kind: 'future', revTimeMs } : null
}

/** What keeps a newer `#commit` or `#sync` from being applied: the account's status, then the repo's sync state. */
function gate(state: RepoState | null): RefusedVerdict | null {
  if (state === null) return null
  if (!isActive(state.status)) return { kind: 'inactive', status: state.status }
  if (state.sync === 'desynchronized') return { kind: 'dropped-desynchronized' }
  if (state.sync === 'resyncing') return { kind: 'hold' }
  return null
}

function backToDesynchronized<E extends ChainFacts>(state: RepoState, held: readonly E[]): Omit<SnapshotOutcome<E>, 'snapshot'> {
  return { held: held.map((event) => ({ event, verdict: { kind: 'dropped-desynchronized' } })), state: withSync(state, 'desynchronized') }
}

function desync(state: RepoState, cause: DesyncCause, expected: string, got: string): Decision<CommitVerdict> {
  return { verdict: { kind: 'desync', cause, expected, got }, state: withSync(state, 'desynchronized') }
}

/** The state in another sync state; `whole` goes with `synchronized` (what is lost or fetched anew is not whole). */
function withSync(state: RepoState, sync: SyncState): RepoState {
  const { whole: _whole, ...rest } = state
  return { ...rest, sync }
}

function requireSync(state: RepoState, expected: RepoState['sync'], what: string): void {
  if (state.sync !== expected) throw new RepoSyncError(RepoSyncErrorCode.BadTransition, `cannot ${what}: the repo is ${state.sync}, not ${expected}`, { sync: state.sync, expected })
}

/**
 * The per-repo sync vocabulary (issue 18): what is stored for every DID, what the rules read from
 * an event and what they answer. The rules themselves: rules.ts; the stored form:
 * repo-state-codec.ts; docs/repo-sync.md, "Per-repo rules".
 */
import type { AccountEvent, CommitEvent, IdentityEvent, SyncEvent } from '../protocol/events.js'

/** Where a repo stands with respect to its chain of commits. */
export type SyncState = 'synchronized' | 'desynchronized' | 'resyncing'

/**
 * An account's status as the last `#account` gave it: `active`, a known reason it is not
 * (takendown, suspended, deleted, deactivated; relays add desynchronized and throttled;
 * `inactive` when `active: false` came without a status), or an unknown status kept as given.
 */
export type AccountStatus = 'active' | 'takendown' | 'suspended' | 'deleted' | 'deactivated' | (string & {})

/** The longest status kept as given, in UTF-8 bytes: a longer one is stored as `inactive` (rules.ts), so a state stays small. */
export const MAX_STATUS_BYTES = 64

/**
 * What is stored for one DID. `rev` and `data` are those of the last commit, `#sync` or snapshot
 * the repo's chain was taken from; both are `''` while none has been seen (a state made by an
 * `#account` alone), which the rules treat as "no chain yet".
 */
export interface RepoState {
  /** The last rev, a TID (the rules refuse any other rev before it can be stored). */
  rev: string
  /** The MST root CID at that rev, base32 (`bafy...`). */
  data: string
  status: AccountStatus
  sync: SyncState
  /**
   * Synchronized only: the repo was published whole (a snapshot) and every commit since continued
   * it, so the stream holds all its records and a backfill has nothing to add (docs/backfill.md).
   * Absent otherwise; leaving `synchronized` drops it.
   */
  whole?: true
}

/**
 * What the rules read from a `#commit`: the decoded event's chain fields plus `data`, the MST root
 * the commit's signed block names (the decoder does not read the commit block; the caller does).
 * `since` may be `''` as production relays send it: it means none, as null does.
 */
export type CommitFacts = Pick<CommitEvent, 'type' | 'rev' | 'since' | 'prevData'> & { data: string }

/** What the rules read from a `#sync`: its rev and the MST root its commit block names. */
export type SyncFacts = Pick<SyncEvent, 'type' | 'rev'> & { data: string }

/** What the rules read from an `#account`. */
export type AccountFacts = Pick<AccountEvent, 'type' | 'active' | 'status'>

/** An `#identity`: the rules read nothing but its kind. */
export type IdentityFacts = Pick<IdentityEvent, 'type'>

/** Any event the per-repo rules decide. */
export type RepoEventFacts = CommitFacts | SyncFacts | AccountFacts | IdentityFacts

/** The events that are held while their repo resyncs (the others are never held). */
export type ChainFacts = CommitFacts | SyncFacts

/** The chain checks a `#commit` can fail: its `since` is not the stored rev, or its `prevData` not the stored data. */
export type DesyncCause = 'since' | 'prevData'

/** Verdicts both `#commit` and `#sync` can get. None publishes the event; each is counted. */
export type RefusedVerdict =
  /** The rev is not a TID: it cannot be ordered, so it is dead-lettered. */
  | { kind: 'invalid-rev' }
  /** The rev is dated more than FUTURE_REV_TOLERANCE_MS after now: dead-lettered, the state untouched. */
  | { kind: 'future'; revTimeMs: number }
  /** The account is not active: not published, the state untouched (see "Per-repo rules"). */
  | { kind: 'inactive'; status: AccountStatus }
  /** The repo waits for a resync to start: not published; the snapshot will cover it. */
  | { kind: 'dropped-desynchronized' }
  /** The repo is resyncing: kept aside and decided by afterSnapshot. */
  | { kind: 'hold' }

export type CommitVerdict =
  /** Published; `start` when it begins the repo's chain (no rev stored before). */
  | { kind: 'publish'; start: boolean }
  /** Rev at or below the stored one: already applied (a replay, a duplicate, a relay failover). */
  | { kind: 'stale' }
  /** The commit does not continue the stored state: not published, the repo must be resynced. */
  | { kind: 'desync'; cause: DesyncCause; expected: string; got: string }
  | RefusedVerdict

export type SyncVerdict =
  /** Rev at or below the stored one. */
  | { kind: 'ignore' }
  /** Same MST root: the repo was re-signed at a new rev; the rev is stored, nothing published. */
  | { kind: 'rev-only' }
  /** Another MST root (a reset, a migration), or no chain stored to compare with: the repo must be resynced. */
  | { kind: 'resync'; reason: 'new-data' | 'no-chain' }
  | RefusedVerdict

/** `#account` and `#identity` are always published; an `#account` also stores the status. */
export type AccountVerdict = { kind: 'publish' }

/** A rule's answer: the verdict and the state to store (the very `state` object given when nothing changes). */
export interface Decision<V> {
  verdict: V
  state: RepoState | null
}

/** What a resync fetched: the repo's commit rev and MST root (the records follow as the snapshot's entries). */
export interface SnapshotHead {
  rev: string
  data: string
}

/** A held event's fate after the snapshot: `covered` (rev at or below the snapshot's), or the verdict the rules give it then. */
export type HeldVerdict = { kind: 'covered' } | CommitVerdict | SyncVerdict

export interface SnapshotOutcome<E extends ChainFacts> {
  /**
   * `published`: the snapshot moves the repo forward, publish it. `unchanged`: it is exactly the
   * stored state (same rev and data), nothing to publish. `stale`: it is older than the stored
   * state (a lagging mirror), nothing published, the repo is desynchronized again.
   */
  snapshot: 'published' | 'unchanged' | 'stale'
  /** Each held event, in the order given, with its fate (publish it where the verdict says `publish`). */
  held: { event: E; verdict: HeldVerdict }[]
  /** The state to store. `desynchronized` when a held event broke the chain again or the snapshot was stale: start another resync. */
  state: RepoState
}

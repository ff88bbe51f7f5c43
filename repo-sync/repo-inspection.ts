/**
 * What `firehose repo <did>` reads for one DID (docs/repo-sync.md, "Inspecting a repo"): the
 * stored state as decoded, or why its value does not decode, and the open snapshot's progress.
 * The reading: inspect-repo.ts.
 */
import type { RepoSyncError } from './errors.js'
import type { RepoKeys } from './repo-keys.js'
import type { RepoState } from './types.js'

/** The DID's field in the state hash: none, a state, or a value the codec refuses (kept as read). */
export type StoredRepoState = { kind: 'absent' } | { kind: 'state'; state: RepoState } | { kind: 'undecodable'; error: RepoSyncError; value: Buffer }

export interface RepoInspection {
  did: string
  keys: RepoKeys
  stored: StoredRepoState
  /** The DID's field in the snapshots hash, as stored (JSON text), or null when no snapshot is open. */
  snapshot: string | null
}

import type { Cluster, Redis } from 'ioredis'
import { RepoSyncError } from './errors.js'
import type { RepoInspection, StoredRepoState } from './repo-inspection.js'
import type { RepoKeys } from './repo-keys.js'
import { decodeRepoState } from './repo-state-codec.js'

/**
 * Reads `did`'s stored state and open snapshot in one MULTI (both keys sit in the shard stream's
 * hash slot), so the two agree with each other. Only reads. Rejects with the client's error when
 * Redis fails (unreachable, refused, a key of another type); a value the codec refuses is a
 * result (`undecodable`), not an error.
 */
export async function inspectRepo(client: Redis | Cluster, keys: RepoKeys, did: string): Promise<RepoInspection> {
  // exec() resolves null only for a transaction a WATCH aborted; this one watches nothing.
  const replies = (await client.multi().hgetBuffer(keys.state, did).hget(keys.snapshots, did).exec())!
  const [[stateError, value], [snapshotError, snapshot]] = replies as [[Error | null, Buffer | null], [Error | null, string | null]]
  if (stateError !== null) throw stateError
  if (snapshotError !== null) throw snapshotError
  return { did, keys, stored: storedState(value), snapshot }
}

function storedState(value: Buffer | null): StoredRepoState {
  if (value === null) return { kind: 'absent' }
  try {
    return { kind: 'state', state: decodeRepoState(value) }
  } catch (err) {
    if (!(err instanceof RepoSyncError)) throw err
    return { kind: 'undecodable', error: err, value }
  }
}

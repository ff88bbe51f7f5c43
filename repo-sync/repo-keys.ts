import { repoStateKeyOf, snapshotProgressKeyOf } from '../common/contract.js'
import { colocatedKey, shardStream, type KeyLayout } from '../common/key-layout.js'
import { shardOfDid } from '../protocol/shard.js'

/** Where one DID's per-repo state lives (docs/repo-sync.md, "Inspecting a repo"). */
export interface RepoKeys {
  /** The DID's shard (0 with one stream). */
  shard: number
  /** That shard's stream. */
  stream: string
  /** The hash DID -> stored state (repo-state-codec.ts), in the shard stream's hash slot. */
  state: string
  /** The hash DID -> the open snapshot's progress (JSON), in the same slot. */
  snapshots: string
}

/** The keys of `did`'s state under `layout`: the hashes `<stream>:repos` and `<stream>:snapshots` of its shard stream, colocated with it. */
export function repoKeysOf(layout: KeyLayout, stream: string, did: string): RepoKeys {
  const shard = shardOfDid(did, layout.shards)
  const shardName = shardStream(layout, stream, shard)
  return {
    shard,
    stream: shardName,
    state: colocatedKey(layout, repoStateKeyOf(stream), shardName),
    snapshots: colocatedKey(layout, snapshotProgressKeyOf(stream), shardName),
  }
}

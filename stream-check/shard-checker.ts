import type { Redis, Cluster } from 'ioredis'
import { repoStateKeyOf } from '../common/contract.js'
import { colocatedKey, keyLayout, shardStream } from '../common/key-layout.js'
import { shardOfDid } from '../protocol/shard.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
import { didOf } from './entry-did.js'
import { StreamCheckError, StreamCheckErrorCode } from './errors.js'
import { openClusterClient } from '../common/redis-open.js'
import { openRedisClient } from '../common/redis-open.js'
import { checkStreamWith, type StreamCheckResult } from './stream-checker.js'

export interface ShardCheckOptions {
  /** The Redis URL, or for a cluster the seed URLs of its nodes. */
  redis: readonly string[]
  cluster: boolean
  /** The base stream name (`firehose:events`); shard i of n > 1 is read from `<stream>:<i>`. */
  stream: string
  shards: number
  /** Every expected entry in seq order; each is expected in the shard of its repo's DID. */
  expected: readonly StreamEntry[]
  /** The streams were written by `ingest --repo-state` (StreamCheckOptions.repoState); each shard's per-repo state hash is read beside it. */
  repoState?: boolean
}

export interface ShardCheckResult {
  /** Per shard, in shard order: the stream read and its check against that shard's expected entries. */
  shards: Array<{ shard: number; stream: string; result: StreamCheckResult }>
  ok: boolean
}

/**
 * checkStream() for events split over shard streams by repo DID: only per-repo order is
 * promised, so each shard is checked on its own against the expected entries of its DIDs.
 * An entry in the wrong shard shows as unexpected there and lost in its own.
 */
export async function checkShards(options: ShardCheckOptions): Promise<ShardCheckResult> {
  const layout = keyLayout(options.shards, options.cluster)
  const expectedByShard = Array.from({ length: options.shards }, (): StreamEntry[] => [])
  for (const entry of options.expected) expectedByShard[shardOfDid(didOf(entry), options.shards)]!.push(entry)

  const client = await openClient(options)
  try {
    const shards: ShardCheckResult['shards'] = []
    for (const [shard, expected] of expectedByShard.entries()) {
      const stream = shardStream(layout, options.stream, shard)
      const repoStates = colocatedKey(layout, repoStateKeyOf(options.stream), stream)
      shards.push({ shard, stream, result: await checkStreamWith(client, stream, expected, { repoState: options.repoState, repoStates }) })
    }
    return { shards, ok: shards.every((s) => s.result.ok) }
  } finally {
    client.disconnect()
  }
}

function openClient(options: ShardCheckOptions): Promise<Redis | Cluster> {
  if (options.cluster) return openClusterClient(options.redis)
  if (options.redis.length !== 1) {
    throw new StreamCheckError(StreamCheckErrorCode.InvalidInput, `checkShards without a cluster reads one Redis, got ${options.redis.length} URLs`, { urls: options.redis.length })
  }
  return openRedisClient(options.redis[0]!)
}

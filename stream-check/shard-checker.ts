import type { Redis, Cluster } from 'ioredis'
import { keyLayout, shardStream } from '../common/key-layout.js'
import { shardOfDid } from '../protocol/shard.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
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
      shards.push({ shard, stream, result: await checkStreamWith(client, stream, expected) })
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

/** The repo DID an entry is sharded by: data.repo of a commit, data.did of the others. */
function didOf(entry: StreamEntry): string | null {
  let data: unknown
  try {
    data = JSON.parse(entry.data)
  } catch {
    throw new StreamCheckError(StreamCheckErrorCode.InvalidInput, `expected entry seq ${entry.seq} has data that is not JSON`, { seq: entry.seq })
  }
  const did = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[entry.type === 'commit' ? 'repo' : 'did'] : undefined
  return typeof did === 'string' ? did : null
}

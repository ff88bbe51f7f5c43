/**
 * Redis key names when events are split into shards or written to a Redis Cluster
 * (docs/scaling.md). Shared by the ingestor, the consumer and the harness' checkers, so all
 * of them name the same keys.
 *
 * - Shard i of n > 1 is the stream `<stream>:<i>`; with one shard the stream keeps its name
 *   (`firehose:events`, the worker contract).
 * - A key written in one script with a shard's stream (its cursor, its dead letters) must sit in
 *   the stream's hash slot. Such keys get the stream's name as a hash tag: `<key>:{<stream>}`.
 *   The stream itself has no braces, so Redis hashes its whole name, which is the tag's content.
 *   Tagged whenever there is more than one shard or a cluster, so a sharded deployment has the
 *   same key names on one server as on a cluster.
 */
export interface KeyLayout {
  /** Number of shard streams (1 = the plain stream). */
  readonly shards: number
  /** Companion keys carry their stream's hash tag. */
  readonly tagged: boolean
}

export function keyLayout(shards: number, cluster: boolean): KeyLayout {
  return { shards, tagged: shards > 1 || cluster }
}

/** The stream of `shard` (0-based). */
export function shardStream(layout: KeyLayout, stream: string, shard: number): string {
  return layout.shards === 1 ? stream : `${stream}:${shard}`
}

/** `key` as written together with `shardStreamName` in one script: in that stream's hash slot when tagged. */
export function colocatedKey(layout: KeyLayout, key: string, shardStreamName: string): string {
  return layout.tagged ? `${key}:{${shardStreamName}}` : key
}

/** Hash tags take the first `{...}`: a stream name holding braces would put its companions elsewhere. */
export function keyLayoutProblem(layout: KeyLayout, stream: string): string | null {
  return layout.tagged && /[{}]/.test(stream) ? `the stream name ${JSON.stringify(stream)} may not contain { or } with --shards or --redis-cluster (its name is the hash tag of its cursor and dead-letter keys)` : null
}

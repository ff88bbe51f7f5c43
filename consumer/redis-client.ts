import { Cluster, Redis } from 'ioredis'
import { duplicateClient, type RedisClient } from '../common/redis-client.js'
import { clusterSeeds, redisTarget } from '../common/redis-target.js'

export type { RedisClient } from '../common/redis-client.js'
/** The `redis` option: a URL, the seed node URLs of a cluster, or a caller's client. */
export type RedisConnection = string | readonly string[] | RedisClient

/**
 * The consumer's own connection, not yet connected: a blocking XREADGROUP holds it, and
 * close() quits it, so a caller's client is duplicated rather than shared. A command fails
 * after one reconnect attempt instead of waiting out an outage: the caller's loop retries
 * with backoff, and stop() is never stuck behind a dead server. A cluster client has a queue
 * of its own while no node answers, without such a bound: it is off (commands fail at once
 * then), and the bound applies per node connection (redisOptions). URLs are parsed by
 * common/redis-target.ts, as the ingestor's are: a malformed one throws RedisConfigError here.
 */
export function ownClient(redis: RedisConnection, cluster: boolean): RedisClient {
  const bounded = { maxRetriesPerRequest: 1 }
  const perCluster = { lazyConnect: true, enableOfflineQueue: false }
  if (typeof redis === 'object' && 'isCluster' in redis) return duplicateClient(redis, { lazyConnect: true, ...bounded }, perCluster)
  const targets = (typeof redis === 'string' ? [redis] : redis).map((url) => redisTarget(url))
  if (!cluster && targets.length === 1) return new Redis({ ...targets[0]!.options, lazyConnect: true, ...bounded })
  const seeds = clusterSeeds(targets)
  return new Cluster(seeds.nodes, { ...perCluster, redisOptions: { ...seeds.nodeOptions, ...bounded } })
}

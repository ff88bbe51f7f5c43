import { Cluster, Redis } from 'ioredis'
import { duplicateClient, type RedisClient } from '../common/redis-client.js'

export type { RedisClient } from '../common/redis-client.js'
/** The `redis` option: a URL, the seed node URLs of a cluster, or a caller's client. */
export type RedisConnection = string | readonly string[] | RedisClient

/**
 * The consumer's own connection, not yet connected: a blocking XREADGROUP holds it, and
 * close() quits it, so a caller's client is duplicated rather than shared. A command fails
 * after one reconnect attempt instead of waiting out an outage: the caller's loop retries
 * with backoff, and stop() is never stuck behind a dead server. A cluster client has a queue
 * of its own while no node answers, without such a bound: it is off (commands fail at once
 * then), and the bound applies per node connection (redisOptions).
 */
export function ownClient(redis: RedisConnection, cluster: boolean): RedisClient {
  const bounded = { maxRetriesPerRequest: 1 }
  const perCluster = { lazyConnect: true, enableOfflineQueue: false }
  if (typeof redis === 'object' && 'isCluster' in redis) return duplicateClient(redis, { lazyConnect: true, ...bounded }, perCluster)
  if (!cluster && typeof redis === 'string') return new Redis(redis, { lazyConnect: true, ...bounded })
  const seeds = (typeof redis === 'string' ? [redis] : redis).map((url) => new URL(url))
  // Nodes found through CLUSTER SLOTS are bare host:port: they get the seeds' credentials and TLS from redisOptions.
  const first = seeds[0]!
  const auth = {
    ...(first.username !== '' ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password !== '' ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
  }
  return new Cluster(
    seeds.map((seed) => ({ host: seed.hostname.replace(/^\[|\]$/g, ''), port: seed.port === '' ? 6379 : Number(seed.port) })),
    { ...perCluster, redisOptions: { ...auth, ...bounded } },
  )
}

import { Cluster, Redis } from 'ioredis'
import { duplicateClient, type RedisClient } from '../common/redis-client.js'
import { redisTarget } from '../ingestor/redis-target.js'

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
  // The ingestor's URL parser (host, port, credentials, TLS for rediss://), one per seed.
  const seeds = (typeof redis === 'string' ? [redis] : redis).map((url) => redisTarget(url).options)
  // Nodes found through CLUSTER SLOTS are bare host:port: they get the first seed's credentials and TLS from redisOptions.
  const { username, password, tls } = seeds[0]!
  const auth = { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}), ...(tls !== undefined ? { tls } : {}) }
  return new Cluster(
    seeds.map(({ host, port }) => ({ host: host!, port: port! })),
    { ...perCluster, redisOptions: { ...auth, ...bounded } },
  )
}

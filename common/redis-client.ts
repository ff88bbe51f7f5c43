import { Cluster, type ClusterOptions, type Redis, type RedisOptions } from 'ioredis'

/** One Redis server, or a Redis Cluster: both speak the same commands. */
export type RedisClient = Redis | Cluster

/**
 * Another connection to the same place with some options changed. `node` applies to a server
 * connection, or to every node connection of a cluster; `cluster` to the cluster client itself.
 * Cluster.duplicate() takes startup nodes first and replaces redisOptions whole, so the
 * original's (credentials, TLS) are kept here.
 */
export function duplicateClient(client: RedisClient, node: Partial<RedisOptions>, cluster: Partial<ClusterOptions> = {}): RedisClient {
  if (client instanceof Cluster) return client.duplicate([], { ...cluster, redisOptions: { ...client.options.redisOptions, ...node } })
  return client.duplicate(node)
}

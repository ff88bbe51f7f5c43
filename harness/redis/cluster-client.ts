import { Cluster } from 'ioredis'
import { connectFailingFast } from './redis-cli.js'

/**
 * A connected ioredis Cluster client over `seedUrls` (redis:// URLs of any of the nodes; the
 * rest of the cluster is discovered from them) that fails fast like openRedisClient(): no
 * retries of the cluster connection, errors reach the caller through rejected commands.
 */
export async function openClusterClient(seedUrls: readonly string[]): Promise<Cluster> {
  const seeds = seedUrls.map((url) => new URL(url))
  const password = seeds.find((seed) => seed.password !== '')?.password
  const client = new Cluster(
    seeds.map((seed) => ({ host: seed.hostname, port: Number(seed.port || 6379) })),
    {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: () => null,
      redisOptions: { maxRetriesPerRequest: 0, password: password === undefined ? undefined : decodeURIComponent(password) },
    },
  )
  return connectFailingFast(client)
}

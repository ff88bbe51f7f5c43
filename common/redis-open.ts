import { Cluster, Redis } from 'ioredis'
import { clusterSeeds, redisTarget } from './redis-target.js'

/**
 * Short-lived clients for tools that read or check a stream (verify, compare, demo, the harness):
 * connected, failing fast (no reconnects, no offline queue), errors reaching the caller through
 * rejected commands rather than as unhandled 'error' events. URLs are parsed by redis-target.ts,
 * as the ingestor's and the consumer's are.
 */
export async function openRedisClient(url: string): Promise<Redis> {
  const client = new Redis({
    ...redisTarget(url).options,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false, // else an auth failure surfaces as "Connection is closed"
    retryStrategy: () => null,
  })
  return connectFailingFast(client)
}

/** A connected Cluster client over `seedUrls` (the rest of the cluster is discovered from them), failing fast like openRedisClient(). */
export async function openClusterClient(seedUrls: readonly string[]): Promise<Cluster> {
  const seeds = clusterSeeds(seedUrls.map((url) => redisTarget(url)))
  const client = new Cluster(seeds.nodes, {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: () => null,
    redisOptions: { ...seeds.nodeOptions, maxRetriesPerRequest: 0 },
  })
  return connectFailingFast(client)
}

/** Connects a lazyConnect client without retries; a failure rejects with the client's own error. */
export async function connectFailingFast<T extends Redis | Cluster>(client: T): Promise<T> {
  let lastError: unknown = null
  client.on('error', (err: unknown) => (lastError = err))
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    throw lastError ?? err // the socket error (ECONNREFUSED, ...) says more than "Connection is closed"
  }
  return client
}

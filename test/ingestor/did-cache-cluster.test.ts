import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyLayout } from '../../common/key-layout.js'
import { silentLogger } from '../../common/logger.js'
import { startRedisCluster, type RedisClusterHandle } from '../../harness/redis/cluster.js'
import { waitUntil } from '../../harness/wait.js'
import { createRedisClient, type RedisClient } from '../../ingestor/redis-connection.js'
import { emptyCounters, type IngestorCounters } from '../../ingestor/status.js'
import { createFrameVerifier, type FrameVerifier } from '../../ingestor/verify/frame-verifier.js'
import { didKeyCacheKeys } from '../../ingestor/verify/redis-did-key-store.js'
import { startGeneratedPlcServer, type PlcServer } from '../../harness/plc-server.js'
import { uniqueKeys } from './helpers.js'

/**
 * --redis-cluster: the shared DID cache's hash and index carry the stream's hash tag, so its one
 * script (two keys) runs on a real 3-master cluster, reached through the ingestor's own cluster client.
 */
describe('the shared DID cache on a Redis Cluster (--redis-cluster): both keys in the stream’s slot, shared by two ingestors', () => {
  let cluster: RedisClusterHandle
  let plc: PlcServer & { dids: readonly string[] }
  const opened: { verifier: FrameVerifier; redis: RedisClient }[] = []

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 })
    plc = await startGeneratedPlcServer({ dids: 300, seed: 11 })
  }, 60_000)
  afterAll(async () => {
    for (const node of opened) {
      await node.verifier.close()
      node.redis.disconnect()
    }
    await plc?.close()
    await cluster?.stop()
  })

  async function node(stream: string): Promise<{ verifier: FrameVerifier; counters: IngestorCounters }> {
    const { client: redis } = createRedisClient(cluster.seedUrls[0]!, true, { connectionName: 'did-cache-cluster-test', retryDelayMs: () => 100 })
    // The ingestor's cluster client has no ready check and no offline queue: until its slot map and
    // the connection to the cache's master are up, a call fails (and the DID is fetched over HTTP).
    await waitUntil(async () => (await redis.hlen(didKeyCacheKeys(keyLayout(1, true), stream).entries).catch(() => null)) !== null, { what: 'the cluster client', timeoutMs: 20_000 })
    const counters = emptyCounters()
    const verifier = createFrameVerifier(
      { plcUrl: plc.url, didCacheSize: 1_000, didCacheTtlMs: 3_600_000, didTimeoutMs: 5_000, verifyWorkers: 0, plcRps: 10_000, stream, redisCluster: true },
      counters,
      silentLogger,
      redis,
    )
    opened.push({ verifier, redis })
    return { verifier, counters }
  }

  /** Node A resolves every DID, node B (after A's stores landed) resolves them again; what each counted. */
  async function shareOnce(): Promise<{ a: IngestorCounters; b: IngestorCounters; stored: number; indexed: number; bRequests: number }> {
    const { stream } = uniqueKeys('test:did-cache-cluster')
    const keys = didKeyCacheKeys(keyLayout(1, true), stream)
    expect(keys.entries).toBe(`${stream}:did-keys:{${stream}}`)
    const [a, b] = [await node(stream), await node(stream)]
    const lookUp = async (verifier: FrameVerifier): Promise<void> => {
      const answers = await Promise.all(plc.dids.map((did) => verifier.resolver.resolve(did)))
      expect(answers.every((answer) => answer.resolution.kind === 'key')).toBe(true)
    }
    await lookUp(a.verifier)
    const admin = new Cluster([{ host: new URL(cluster.seedUrls[0]!).hostname, port: Number(new URL(cluster.seedUrls[0]!).port) }])
    let stored: number
    let indexed: number
    try {
      // A store that failed (counted) never lands: then wait for what did.
      await waitUntil(async () => a.counters.didSharedCacheErrors > 0 || (await admin.hlen(keys.entries)) === plc.dids.length, { what: 'the cache filled', timeoutMs: 10_000 })
      ;[stored, indexed] = await Promise.all([admin.hlen(keys.entries), admin.zcard(keys.expiry)])
    } finally {
      admin.disconnect()
    }
    const before = plc.requests()
    await lookUp(b.verifier)
    return { a: a.counters, b: b.counters, stored, indexed, bRequests: plc.requests() - before }
  }

  it('node B resolves from the cluster what node A fetched', async () => {
    // The ingestor's cluster client has no offline queue: on a loaded machine it is at times briefly
    // not ready, and that call falls back to HTTP (did-cache-shared.test.ts tests the fallback). This
    // test wants one run without such a fallback to check the layout, so it tries up to three times.
    let run = await shareOnce()
    for (let attempt = 1; attempt < 3 && run.a.didSharedCacheErrors + run.b.didSharedCacheErrors > 0; attempt++) run = await shareOnce()
    expect(run.a.didSharedCacheErrors + run.b.didSharedCacheErrors).toBe(0)
    expect(run.a.plcRequests).toBe(plc.dids.length)
    expect([run.stored, run.indexed]).toEqual([plc.dids.length, plc.dids.length])
    expect(run.bRequests).toBe(0)
    expect(run.b.didSharedCacheHits).toBe(plc.dids.length)
  })
})

import { once } from 'node:events'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { waitUntil } from '../../harness/wait.js'
import { resolveOptions } from '../../ingestor/options.js'
import { createRedisClient, type RedisClient } from '../../ingestor/redis-connection.js'
import { emptyCounters, type IngestorCounters } from '../../ingestor/status.js'
import { createFrameVerifier, type FrameVerifier } from '../../ingestor/verify/frame-verifier.js'
import { startPlcServer, type PlcServer } from '../../harness/plc-server.js'
import { committedFixture, expectIngestUsageError, ownRedisForSuite, startOwnRedis, uniqueKeys } from './helpers.js'
import { committedFramesAndDocs, frameType } from './verify-frames.js'

const BATCH = 100

/**
 * The shared DID cache end to end: FrameVerifier as the ingestor builds it (createFrameVerifier
 * with an ingestor-style Redis connection), a real redis-server, and a real HTTP PLC directory
 * serving the committed fixture's DID documents (harness/plc-server.ts); every frame really signed.
 */
describe('the shared DID cache (real redis-server, real HTTP PLC directory, the committed fixture)', () => {
  const suite = ownRedisForSuite()
  let plc: PlcServer
  /** #commit and #sync frames of the committed fixture (no #identity: those clear the cache, tested apart). */
  let signed: Uint8Array[]
  let accounts: number
  const open: { verifier: FrameVerifier; redis: RedisClient }[] = []

  beforeAll(async () => {
    plc = (await startPlcServer(committedFixture))!
    const { frames } = await committedFramesAndDocs()
    signed = frames.filter((f) => ['#commit', '#sync'].includes(frameType(f).t)).slice(0, 400)
    accounts = new Set(signed.map((f) => frameType(f).did)).size
  })
  afterAll(async () => {
    for (const node of open) {
      await node.verifier.close()
      node.redis.disconnect()
    }
    await plc.close()
  })

  /** One ingestor's verifier: its own connection (as the sink's: no offline queue, no retries), its own counters. */
  async function node(redisUrl: string, stream: string): Promise<{ verifier: FrameVerifier; counters: IngestorCounters; redis: RedisClient }> {
    const { client: redis } = createRedisClient(redisUrl, false, { connectionName: 'did-cache-test', retryDelayMs: () => 50 })
    redis.on('error', () => {}) // an outage is what one test is about; the counters tell
    await once(redis, 'ready')
    const counters = emptyCounters()
    const verifier = createFrameVerifier({ plcUrl: plc.url, didCacheSize: 10_000, didCacheTtlMs: 3_600_000, didTimeoutMs: 5_000, verifyWorkers: 0, plcRps: 10_000, stream }, counters, silentLogger, redis)
    open.push({ verifier, redis })
    return { verifier, counters, redis }
  }

  async function verifyAll(verifier: FrameVerifier, frames: readonly Uint8Array[]): Promise<number> {
    let failed = 0
    for (let i = 0; i < frames.length; i += BATCH) failed += (await verifier.verify(frames.slice(i, i + BATCH), () => false))!.filter((v) => v !== null).length
    return failed
  }

  /** The resolver does not await its stores: wait until Redis holds them. */
  const cached = (stream: string, count: number): Promise<void> => waitUntil(async () => (await suite.admin.hlen(`${stream}:did-keys`)) === count, { what: `${count} DIDs in ${stream}:did-keys`, timeoutMs: 10_000 })

  describe('shared by the stream’s ingestors (--ha: the standby that takes over, several at once): what one fetched, another verifies with no PLC request', () => {
    it('node B verifies every frame node A verified, from Redis', async () => {
      const { stream } = uniqueKeys('test:did-cache')
      const [a, b] = [await node(suite.redis.url, stream), await node(suite.redis.url, stream)]
      expect(await verifyAll(a.verifier, signed)).toBe(0)
      expect(a.counters.plcRequests).toBe(accounts)
      await cached(stream, accounts)
      const before = plc.requests()
      expect(await verifyAll(b.verifier, signed)).toBe(0)
      expect(plc.requests() - before).toBe(0)
      expect(b.counters.plcRequests).toBe(0)
      expect(b.counters.didSharedCacheHits).toBe(accounts)
      expect(b.counters.verifiedFrames).toBe(signed.length)
    })
  })

  describe('kept across restarts: a new process (new connection, empty in-process cache) finds the keys its predecessor fetched', () => {
    it('the restarted node makes no PLC request', async () => {
      const { stream } = uniqueKeys('test:did-cache')
      const first = await node(suite.redis.url, stream)
      expect(await verifyAll(first.verifier, signed)).toBe(0)
      await cached(stream, accounts)
      await first.verifier.close()
      first.redis.disconnect()
      const before = plc.requests()
      const restarted = await node(suite.redis.url, stream)
      expect(await verifyAll(restarted.verifier, signed)).toBe(0)
      expect(plc.requests() - before).toBe(0)
      expect(restarted.counters.didSharedCacheMisses).toBe(0)
    })
  })

  describe('an #identity event on one node drops the DID from the shared cache: the next lookup anywhere fetches the current document', () => {
    it('node B fetches the DID node A saw an #identity for', async () => {
      const { frames } = await committedFramesAndDocs()
      const identity = frames.find((f) => frameType(f).t === '#identity' && signed.some((s) => frameType(s).did === frameType(f).did))!
      const did = frameType(identity).did
      const { stream } = uniqueKeys('test:did-cache')
      const [a, b] = [await node(suite.redis.url, stream), await node(suite.redis.url, stream)]
      expect(await verifyAll(a.verifier, signed)).toBe(0)
      await cached(stream, accounts)
      expect(await a.verifier.verify([identity], () => false)).toEqual([null])
      expect(await suite.admin.hexists(`${stream}:did-keys`, did)).toBe(0)
      const before = plc.requests()
      expect(await verifyAll(b.verifier, signed)).toBe(0)
      expect(plc.requests() - before).toBe(1)
      expect(b.counters.didSharedCacheHits).toBe(accounts - 1)
    })
  })

  describe('Redis errors never lose a frame: with Redis down every DID is resolved over HTTP and every frame verified, the errors counted; once Redis is back the cache fills again', () => {
    it('verifies through an outage', async () => {
      const own = await startOwnRedis()
      try {
        const { stream } = uniqueKeys('test:did-cache')
        const down = await node(own.url, stream)
        await own.kill()
        const before = plc.requests()
        const half = signed.slice(0, 200)
        expect(await verifyAll(down.verifier, half)).toBe(0)
        const halfAccounts = new Set(half.map((f) => frameType(f).did)).size
        expect(plc.requests() - before).toBe(halfAccounts)
        expect(down.counters.verifiedFrames).toBe(half.length)
        expect(down.counters.didSharedCacheErrors).toBeGreaterThanOrEqual(2)
        expect(down.counters.didSharedCacheHits).toBe(0)
        await own.restart()
        await waitUntil(() => down.redis.status === 'ready', { what: 'the connection back', timeoutMs: 10_000 })
        expect(await verifyAll(down.verifier, signed)).toBe(0)
        const admin = new Redis(own.url)
        try {
          // The accounts first seen after the outage are stored; those resolved during it stay in process only.
          await waitUntil(async () => (await admin.hlen(`${stream}:did-keys`)) === accounts - halfAccounts, { what: 'the cache filling again', timeoutMs: 10_000 })
        } finally {
          admin.disconnect()
        }
      } finally {
        await own.stop()
      }
    })
  })
})

describe('--did-shared-cache-size / FIREHOSE_DID_SHARED_CACHE_SIZE: default 200,000 (~70 MiB of Redis), 0 turns the shared cache off', () => {
  it('defaults, and 0 is accepted', () => {
    const base = { relayUrl: 'ws://relay.test', redisUrl: 'redis://127.0.0.1:1' }
    expect(resolveOptions(base)).toMatchObject({ didSharedCacheSize: 200_000, didSharedCacheTtlMs: 86_400_000 })
    expect(resolveOptions({ ...base, didSharedCacheSize: 0 }).didSharedCacheSize).toBe(0)
    expect(() => resolveOptions({ ...base, didSharedCacheTtlMs: 0 })).toThrow(/didSharedCacheTtlMs must be an integer from 1/)
  })

  it.concurrent.for([
    [['--verify', '--did-shared-cache-size', '-1'], {}, /--did-shared-cache-size.*expected an integer from 0 to 100000000/],
    [['--verify'], { FIREHOSE_DID_SHARED_CACHE_SIZE: 'lots' }, /FIREHOSE_DID_SHARED_CACHE_SIZE.*expected an integer/],
  ] as const)('rejects %j %j with exit 2 and a one-line reason, before connecting', async ([args, env, reason], { expect }) => {
    await expectIngestUsageError(args, env, reason, expect)
  })
})

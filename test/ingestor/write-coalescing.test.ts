import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RedisHandle } from '../../harness/redis/index.js'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { TcpProxy } from '../../harness/tcp-proxy.js'
import { waitUntil } from '../../harness/wait.js'
import { loadIngestor, replay, sequencedRealFrames, startOwnRedis, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const FRAMES = 4000
const DECODE_BATCH = 50
const WRITE_MAX_FRAMES = 1000
/** Each direction: a 100 ms round trip, long enough for many decoded batches to pile up behind one write. */
const LATENCY_MS = 50

/** How many times Redis ran a script (EVALSHA) since it started, from INFO commandstats. */
async function scriptCalls(redis: RedisHandle): Promise<number> {
  const stats = await redis.cli('INFO', 'commandstats')
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

describe('writes behind a slow Redis (TCP proxy with latency, relay at max rate)', () => {
  let redis: RedisHandle
  let proxy: TcpProxy
  const temp = tempDir()
  beforeAll(async () => {
    redis = await startOwnRedis()
    const { hostname, port } = new URL(redis.url)
    proxy = await TcpProxy.start({ upstream: { host: hostname, port: Number(port) } })
    proxy.setLatency(LATENCY_MS)
  })
  afterAll(async () => {
    await proxy?.close()
    await redis?.stop()
    temp.cleanup()
  })

  it('combines the decoded batches waiting for the writer into one script call: one round trip carries many batches', async () => {
    const fixture = await writeFixture(join(temp.dir, 'slow-redis.fixture.gz'), sequencedRealFrames(FRAMES))
    const keys = uniqueKeys()
    // Paused until the ingestor runs: its start-up check (redis-preflight.ts) runs scripts too, before the first write.
    const relay = await replay([fixture], { start: 'paused' })
    try {
      const { startIngestor } = await loadIngestor()
      const handle = await startIngestor({
        relayUrl: relay.url,
        redisUrl: proxy.proxiedUrl(redis.url),
        stream: keys.stream,
        cursorKey: keys.cursorKey,
        startCursor: 0,
        batchSize: DECODE_BATCH,
        writeMaxFrames: WRITE_MAX_FRAMES,
        queueFrames: WRITE_MAX_FRAMES,
        statusIntervalMs: 0,
      })
      try {
        await waitUntil(() => handle.status().relay.connected, { what: 'the ingestor running', timeoutMs: 20_000 })
      } catch (err) {
        await handle.stop()
        throw err
      }
      const before = await scriptCalls(redis)
      relay.resume()
      try {
        await waitUntil(() => (handle.status().storedCursor ?? -1) >= FRAMES, { what: `stored cursor ${FRAMES}`, timeoutMs: 60_000 })
      } finally {
        await handle.stop()
      }
      const calls = (await scriptCalls(redis)) - before
      const { counters } = handle.status()
      expect(counters).toMatchObject({ eventsWritten: FRAMES, deadLettered: 0, casMismatches: 0, redisErrors: 0 })
      // The relay outran Redis: the queue filled and paused the socket, so the writer always had work waiting.
      expect(counters.backpressurePauses).toBeGreaterThan(0)
      // One round trip per write, nothing resent.
      expect(calls).toBe(counters.batchesWritten)
      // One decode batch per write would be FRAMES / DECODE_BATCH = 80 calls (50 entries each).
      const entriesPerCall = FRAMES / calls
      expect(entriesPerCall, `${calls} script calls for ${FRAMES} entries`).toBeGreaterThan(4 * DECODE_BATCH)
      const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture) })
      expect(result).toMatchObject({ ok: true, delivered: FRAMES })
    } finally {
      await relay.close()
    }
  }, 90_000)
})

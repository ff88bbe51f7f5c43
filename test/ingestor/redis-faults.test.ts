import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RedisHandle, RedisPersistence } from '../../harness/redis/index.js'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle } from '../../ingestor/index.js'
import { capturingLogger, type LogLine } from '../support/capturing-logger.js'
import { loadIngestor, replay, sequencedRealFrames, startOwnRedis, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const FRAMES = 3000

/**
 * Emulates Redis losing its latest writes (AOF everysec + crash), atomically: entries with
 * seq > `to` are deleted from the stream and the cursor is set to `to`.
 */
const ROLLBACK_LUA = `
local entries = redis.call('XREVRANGE', KEYS[1], '+', '-')
for _, entry in ipairs(entries) do
  if tonumber(entry[2][6]) > tonumber(ARGV[1]) then redis.call('XDEL', KEYS[1], entry[1]) end
end
redis.call('SET', KEYS[2], ARGV[1])
return #entries
`

/** A client for the test's own checks; connection errors while Redis is down are expected. */
function adminClient(url: string): Redis {
  const client = new Redis(url)
  client.on('error', () => {})
  return client
}

describe('Redis faults: the ingestor pauses, retries, never drops, and follows the cursor Redis really has', () => {
  const temp = tempDir()
  let fixture: string
  beforeAll(async () => {
    fixture = await writeFixture(join(temp.dir, 'redis-faults.fixture.gz'), sequencedRealFrames(FRAMES))
  })
  afterAll(() => temp.cleanup())

  async function run(
    persistence: RedisPersistence,
    eventsPerSec: number,
    during: (ctx: { redis: RedisHandle; ingestor: IngestorHandle; admin: () => Redis; keys: ReturnType<typeof uniqueKeys>; logs: readonly LogLine[] }) => Promise<void>,
    beforeStart?: (redis: RedisHandle) => Promise<void>,
    /** null: start at the live tail, with the replay timeline starting at the first subscriber. */
    startCursor: number | null = 0,
  ): Promise<IngestorHandle> {
    const redis = await startOwnRedis(persistence)
    const relay = await replay([fixture], { rate: { mode: 'rate', eventsPerSec }, ...(startCursor === null && { start: 'first-client' as const }) })
    const keys = uniqueKeys('test:redis-faults')
    let admin = adminClient(redis.url)
    const { startIngestor } = await loadIngestor()
    const { logger, lines } = capturingLogger()
    await beforeStart?.(redis)
    const ingestor = await startIngestor({
      relayUrl: relay.url,
      redisUrl: redis.url,
      stream: keys.stream,
      cursorKey: keys.cursorKey,
      startCursor,
      batchSize: 100,
      statusIntervalMs: 0,
      redisBackoff: { initialMs: 20, maxMs: 200 },
      logger,
    })
    try {
      await during({
        redis,
        ingestor,
        keys,
        logs: lines,
        admin: () => {
          admin.disconnect()
          admin = adminClient(redis.url)
          return admin
        },
      })
      await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= FRAMES, { what: 'the last seq to be stored', timeoutMs: 60_000, intervalMs: 50 })
      await ingestor.stop()
      const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture) })
      // The whole check in the message: which seqs were duplicated, out of order or mismatched.
      expect(result, JSON.stringify(result).slice(0, 4000)).toMatchObject({ ok: true, delivered: FRAMES })
      admin.disconnect()
      admin = adminClient(redis.url)
      const groups = (await admin.xinfo('GROUPS', keys.stream)) as unknown[][]
      expect(groups.map((group) => group[1])).toEqual(['firehose-processors'])
      return ingestor
    } finally {
      await ingestor.stop()
      admin.disconnect()
      await relay.close()
      await redis.stop()
    }
  }

  it.each(['aof-always', 'aof-everysec'] as const)('Redis SIGKILLed and restarted 3 times under load (%s): nothing lost or duplicated', async (persistence) => {
    const ingestor = await run(persistence, 2000, async ({ redis, ingestor }) => {
      for (let kill = 1; kill <= 3; kill++) {
        await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= kill * 600, { what: `cursor ${kill * 600}`, timeoutMs: 30_000 })
        await redis.kill()
        await waitUntil(() => !ingestor.status().redis.ready, { what: 'the ingestor to notice', timeoutMs: 10_000 })
        // Down under load: the relay's frames keep coming and wait for Redis (the last ones may all be in already).
        const received = ingestor.status().counters.framesReceived
        await waitUntil(() => ingestor.status().counters.framesReceived >= Math.min(FRAMES, received + 100), { what: '100 frames received while Redis is down', timeoutMs: 10_000 })
        await redis.restart()
      }
    })
    // Each outage was seen (the wait above); whether a write was in flight when Redis died is
    // timing, so redisErrors may be 0. What must hold is checked by run(): every seq once, in order.
    expect(ingestor.status().counters.eventsWritten).toBeGreaterThan(0)
  })

  it('Redis loses its latest writes (cursor and entries rolled back together): the ingestor resyncs from Redis and refetches', async () => {
    const ingestor = await run('none', 1500, async ({ ingestor, admin, keys }) => {
      await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= 1200, { what: 'cursor 1200', timeoutMs: 30_000 })
      await admin().eval(ROLLBACK_LUA, 2, keys.stream, keys.cursorKey, '700')
    })
    expect(ingestor.status().counters.resyncs).toBeGreaterThanOrEqual(1)
    expect(ingestor.status().counters.casMismatches).toBeGreaterThanOrEqual(1)
  })

  it('Redis comes back having lost writes while the ingestor is idle (nothing more to write): it checks the cursor on reconnect, resyncs and refetches', async () => {
    const ingestor = await run('none', 3000, async ({ ingestor, admin, keys, logs }) => {
      // Everything written: the relay has nothing more, so no write of ours would notice the loss.
      await waitUntil(() => ingestor.status().storedCursor === FRAMES && ingestor.status().queue.frames === 0, { what: 'every frame written, idle', timeoutMs: 30_000 })
      const redis = admin()
      await redis.eval(ROLLBACK_LUA, 2, keys.stream, keys.cursorKey, '700')
      // A reconnect, as after a Redis restart or failover.
      await redis.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
      await waitUntil(() => ingestor.status().counters.resyncs >= 1, { what: 'the resync after the reconnect', timeoutMs: 20_000 })
      expect(logs.find((line) => line.msg === 'resynchronising: restarting the relay from the stored cursor')).toMatchObject({ reason: expect.stringMatching(/Redis came back holding another cursor/) })
    })
    expect(ingestor.status().counters.resyncs).toBeGreaterThanOrEqual(1)
    expect(ingestor.status().counters.casMismatches).toBeGreaterThanOrEqual(1)
  })

  it('Redis restarted empty (no persistence: cursor, stream and group gone): restarts from where the run started, group re-created', async () => {
    const ingestor = await run('none', 2000, async ({ redis, ingestor }) => {
      await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= 1000, { what: 'cursor 1000', timeoutMs: 30_000 })
      await redis.kill()
      await redis.restart()
    })
    expect(ingestor.status().counters.resyncs).toBeGreaterThanOrEqual(1)
  })

  it('Redis restarted empty under a run that started at the live tail: restarts from just before its first event, not live', async () => {
    const ingestor = await run(
      'none',
      2000,
      async ({ redis, ingestor }) => {
        await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= 1000, { what: 'cursor 1000', timeoutMs: 30_000 })
        await redis.kill()
        await redis.restart()
      },
      undefined,
      null,
    )
    expect(ingestor.status().counters.resyncs).toBeGreaterThanOrEqual(1)
  })

  it('Redis stopped (SIGSTOP) under a max-rate relay: the queue stays bounded, the socket is paused, nothing is lost', async () => {
    const queueFrames = 300
    const redis = await startOwnRedis()
    const relay = await replay([fixture], { rate: { mode: 'max' } })
    const keys = uniqueKeys('test:redis-stop')
    const admin = adminClient(redis.url)
    const redisPid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1])
    const { startIngestor } = await loadIngestor()
    const ingestor = await startIngestor({ relayUrl: relay.url, redisUrl: redis.url, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0, batchSize: 50, queueFrames, statusIntervalMs: 0 })
    let stopped = false
    try {
      await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= 200, { what: 'cursor 200', timeoutMs: 30_000 })
      process.kill(redisPid, 'SIGSTOP')
      stopped = true
      await waitUntil(() => ingestor.status().relay.paused, { what: 'the relay socket to be paused', timeoutMs: 10_000 })
      // Until frames stop coming: a socket that were still read would go on to the fixture's end.
      let maxQueued = 0
      let lastReceived = -1
      await waitUntil(
        () => {
          const { queue, counters } = ingestor.status()
          maxQueued = Math.max(maxQueued, queue.frames)
          const settled = counters.framesReceived === lastReceived
          lastReceived = counters.framesReceived
          return settled
        },
        { what: 'no more frames received between two looks', timeoutMs: 10_000, intervalMs: 50 },
      )
      expect(ingestor.status().relay.paused).toBe(true)
      // Frames the socket had already read when it was paused still go in (never dropped): a few chunks' worth.
      expect(maxQueued).toBeLessThanOrEqual(queueFrames + 100)
      expect(ingestor.status().counters.backpressurePauses).toBeGreaterThanOrEqual(1)
      process.kill(redisPid, 'SIGCONT')
      stopped = false
      await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= FRAMES, { what: 'the last seq to be stored', timeoutMs: 60_000, intervalMs: 50 })
      await ingestor.stop()
      const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture) })
      // The whole check in the message: which seqs were duplicated, out of order or mismatched.
      expect(result, JSON.stringify(result).slice(0, 4000)).toMatchObject({ ok: true, delivered: FRAMES })
    } finally {
      if (stopped) process.kill(redisPid, 'SIGCONT')
      await ingestor.stop()
      admin.disconnect()
      await relay.close()
      await redis.stop()
    }
  })

  it('Redis down when the ingestor starts: it waits (state starting), then ingests everything', async () => {
    const ingestor = await run(
      'aof-always',
      3000,
      async ({ redis, ingestor, logs }) => {
        await waitUntil(() => logs.some((line) => line.msg === 'redis connection error; retrying'), { what: 'a failed connection to Redis', timeoutMs: 10_000 })
        expect(ingestor.status()).toMatchObject({ state: 'starting', redis: { ready: false } })
        await redis.restart()
      },
      (redis) => redis.kill(),
    )
    expect(ingestor.status().stoppedBy).toBe('stop')
  })
})

import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import { ingestUntil, readStream, redisGet, replay, sequencedRealFrames, startOwnRedis, tempDir, uniqueKeys, writeFixture } from './helpers.js'

describe('ingestor end to end (replay server -> ingestor -> redis-server)', () => {
  let redis: RedisHandle
  const temp = tempDir()
  beforeAll(async () => {
    redis = await startOwnRedis()
  })
  afterAll(async () => {
    await redis.stop()
    temp.cleanup()
  })

  it('writes every frame once, in order, with the cursor at the last seq (1 and 2 decode workers, main-thread decode)', async () => {
    const fixture = await writeFixture(join(temp.dir, 'e2e.fixture.gz'), sequencedRealFrames(3000))
    const expected = await expectedEntriesFromFixture(fixture)
    for (const decodeWorkers of [1, 2, 0]) {
      const keys = uniqueKeys()
      const relay = await replay([fixture])
      try {
        const handle = await ingestUntil({ relayUrl: relay.url, redisUrl: redis.url, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0, decodeWorkers, batchSize: 200 }, 3000)
        const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected })
        expect(result).toMatchObject({ ok: true, delivered: 3000 })
        expect(await redisGet(redis.url, keys.cursorKey)).toBe('3000')
        expect(handle.status()).toMatchObject({ state: 'stopped', stoppedBy: 'stop', counters: { eventsWritten: 3000, deadLettered: 0 } })
        expect(await redis.cli('XINFO', 'GROUPS', keys.stream)).toContain('firehose-processors')
        expect((await readStream(redis.url, keys.stream)).length).toBe(3000)
      } finally {
        await relay.close()
      }
    }
  })

  it('two ingestors on the same keys: the compare-and-set lets each batch in once; the stream has every seq once, in order', async () => {
    const fixture = await writeFixture(join(temp.dir, 'two.fixture.gz'), sequencedRealFrames(2000))
    const keys = uniqueKeys()
    const relay = await replay([fixture], { rate: { mode: 'rate', eventsPerSec: 2000 }, start: 'first-client' })
    try {
      const options = { relayUrl: relay.url, redisUrl: redis.url, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0, batchSize: 50 }
      const [a, b] = await Promise.all([ingestUntil(options, 2000), ingestUntil(options, 2000)])
      const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture) })
      expect(result).toMatchObject({ ok: true, delivered: 2000, duplicated: [] })
      // Both read the same stored cursor and race on every batch: the loser's CAS refuses it.
      expect(a.status().counters.casMismatches + b.status().counters.casMismatches).toBeGreaterThan(0)
    } finally {
      await relay.close()
    }
  })
})

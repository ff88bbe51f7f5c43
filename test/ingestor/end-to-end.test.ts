import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkStream, expectedEntriesFromFixture } from '../../harness/stream-checker.js'
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

  it('writes every frame once, in order, with the cursor at the last seq (worker and main-thread decode)', async () => {
    const fixture = await writeFixture(join(temp.dir, 'e2e.fixture.gz'), sequencedRealFrames(3000))
    const expected = await expectedEntriesFromFixture(fixture)
    for (const decodeInWorker of [true, false]) {
      const keys = uniqueKeys()
      const relay = await replay([fixture])
      try {
        const handle = await ingestUntil({ relayUrl: relay.url, redisUrl: redis.url, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0, decodeInWorker, batchSize: 200 }, 3000)
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
})

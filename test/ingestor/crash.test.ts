import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { IngestorProcess } from '../../harness/ingestor-process.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { sleep, waitUntil } from '../../harness/wait.js'
import { CRASH_POINTS } from '../../ingestor/crash-points.js'
import { sizes } from '../../harness/scenarios/profile.js'
import type { ReplayHandle } from '../../replay/index.js'
import { replay, sequencedRealFrames, startOwnRedis, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const FRAMES = 4000
/** Every crash point once (in a seeded order), then seeded crash points and external kills: 22 in the full profile. */
const KILLS = sizes().profile === 'full' ? 22 : CRASH_POINTS.length + 3

describe('kill -9 of the ingestor CLI at seeded points during a replay', () => {
  const seed = Number(process.env.FIREHOSE_TEST_SEED ?? SeededRandom.freshSeed())
  const temp = tempDir()
  let redis: RedisHandle
  let relay: ReplayHandle
  let fixture: string
  beforeAll(async () => {
    redis = await startOwnRedis()
    fixture = await writeFixture(join(temp.dir, 'crash.fixture.gz'), sequencedRealFrames(FRAMES))
    relay = await replay([fixture])
  })
  afterAll(async () => {
    await relay.close()
    await redis.stop()
    temp.cleanup()
  })

  it(`leaves every seq in the stream exactly once, in order, after ${KILLS} crashes (seed printed on failure)`, async () => {
    const random = new SeededRandom(seed)
    const keys = uniqueKeys('test:crash')
    const admin = new Redis(redis.url)
    await admin.set(keys.cursorKey, '0') // start from the beginning of the replay window
    const start = (crashAt: string | null, logLevel = 'warn'): IngestorProcess =>
      IngestorProcess.start({
        relayUrl: relay.url,
        redisUrl: redis.url,
        stream: keys.stream,
        cursorKey: keys.cursorKey,
        crashAt,
        args: ['--batch-size', '40', '--status-interval', '60'],
        env: { FIREHOSE_LOG_LEVEL: logLevel },
      })
    const cursor = async (): Promise<number> => Number((await admin.get(keys.cursorKey)) ?? 0)
    const plan: string[] = []
    let crashes = 0
    try {
      const everyPoint = [...CRASH_POINTS].sort(() => random.next() - 0.5)
      for (let i = 0; i < KILLS && (await cursor()) < FRAMES; i++) {
        if (i < everyPoint.length || random.bool(0.6)) {
          // A crash point inside the write path, reached on its n-th batch.
          const crashAt = `${everyPoint[i] ?? random.pick(CRASH_POINTS)}:${random.int(1, 4)}`
          plan.push(crashAt)
          const child = start(crashAt)
          const exit = await Promise.race([child.exited, sleep(20_000).then(() => null)])
          if (exit === null || exit.signal !== 'SIGKILL') {
            await child.kill9()
            if ((await cursor()) < FRAMES) throw child.failure(`did not crash at ${crashAt} (exit ${JSON.stringify(exit)})`)
          }
        } else {
          // SIGKILL from outside after the stream grew by a seeded number of entries.
          const grow = random.int(1, 300)
          plan.push(`external after +${grow}`)
          const before = await admin.xlen(keys.stream)
          const child = start(null)
          await waitUntil(async () => (await admin.xlen(keys.stream)) >= Math.min(before + grow, FRAMES) || child.exit !== null, { what: `+${grow} entries`, timeoutMs: 20_000, intervalMs: 5 })
          await child.kill9()
        }
        crashes++
      }
      const last = start(null, 'info')
      await last.waitForLog((record) => record.msg === 'starting from cursor', 30_000, 'the final run to start')
      await waitUntil(async () => (await cursor()) >= FRAMES, { what: 'the final run to reach the last seq', timeoutMs: 30_000 })
      expect(await last.stop()).toEqual({ code: 0, signal: null })

      const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture) })
      expect(result, `seed ${seed}, plan ${plan.join(', ')}; reproduce with FIREHOSE_TEST_SEED=${seed}`).toMatchObject({
        ok: true,
        delivered: FRAMES,
        lost: [],
        duplicated: [],
        outOfOrder: [],
      })
      expect(crashes, `seed ${seed}`).toBeGreaterThanOrEqual(KILLS - 2) // the replay may end before the last kills
      expect(plan.length).toBe(crashes)
    } finally {
      await admin.del(keys.stream, keys.cursorKey, keys.dead)
      admin.disconnect()
    }
  }, 180_000)
})

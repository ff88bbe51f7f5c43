import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { waitUntil } from '../../harness/wait.js'
import { RedisSink } from '../../ingestor/redis-sink.js'
import { capturingLogger, type LogLine } from '../support/capturing-logger.js'
import { loadIngestor, replay, sequencedRealFrames, startOwnRedis, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const FRAMES = 1500

const stillDownLines = (lines: readonly LogLine[]): LogLine[] => lines.filter((line) => line.msg.startsWith('redis still down for'))
const statusLines = (lines: readonly LogLine[]): LogLine[] => lines.filter((line) => line.msg === 'status')

/** MaxListenersExceededWarning and friends emitted while `body` runs. */
async function collectWarnings(body: () => Promise<void>): Promise<Error[]> {
  const warnings: Error[] = []
  const onWarning = (warning: Error): void => void warnings.push(warning)
  process.on('warning', onWarning)
  try {
    await body()
  } finally {
    process.off('warning', onWarning)
  }
  return warnings
}

describe('a Redis outage: bounded listeners, one warning, then rate-limited "still down" lines and status lines', () => {
  const temp = tempDir()
  let fixture: string
  beforeAll(async () => {
    fixture = await writeFixture(join(temp.dir, 'outage.fixture.gz'), sequencedRealFrames(FRAMES))
  })
  afterAll(() => temp.cleanup())

  it('whenReady() called on every retry adds no listener: one shared promise per outage', async () => {
    const redis = await startOwnRedis()
    await redis.kill()
    const keys = uniqueKeys('test:redis-outage')
    const sink = new RedisSink(redis.url, { ...keys, deadLetterStream: keys.dead, group: 'g', maxLen: 0, trim: 'safe', deadLetterMaxLen: 10 }, silentLogger, { initialMs: 10, maxMs: 50 })
    try {
      const before = sink.redis.listenerCount('ready')
      const waiters = Array.from({ length: 100 }, () => sink.whenReady())
      expect(sink.redis.listenerCount('ready')).toBe(before)
      await redis.restart()
      await Promise.all(waiters)
      expect(sink.isReady).toBe(true)
    } finally {
      await sink.close()
      await redis.stop()
    }
  })

  it('down at startup and again mid-run: no MaxListenersExceededWarning after 11+ retries, the outage is reported, nothing is lost', async () => {
    const redis = await startOwnRedis('aof-always')
    const relay = await replay([fixture], { rate: { mode: 'rate', eventsPerSec: 1000 }, start: 'first-client' })
    const keys = uniqueKeys('test:redis-outage')
    const { logger, lines } = capturingLogger()
    const { startIngestor } = await loadIngestor()
    await redis.kill()
    try {
      const warnings = await collectWarnings(async () => {
        const ingestor = await startIngestor({
          relayUrl: relay.url,
          redisUrl: redis.url,
          stream: keys.stream,
          cursorKey: keys.cursorKey,
          startCursor: 0,
          statusIntervalMs: 200,
          redisDownLogIntervalMs: 300,
          redisBackoff: { initialMs: 10, maxMs: 50 },
          logger,
        })
        try {
          // Down at startup for 11+ reconnects (the old code added a listener per retry, warning at
          // the 11th), 3+ "still down" lines and 5+ status lines.
          await waitUntil(
            () => {
              const stillDown = stillDownLines(lines)
              return stillDown.length >= 3 && (stillDown.at(-1)!.retries as number) > 11 && statusLines(lines).length >= 5
            },
            { what: '3 "still down" lines, the last after 11+ retries, and 5 status lines', timeoutMs: 20_000 },
          )
          const atStartup = lines.splice(0)
          // One warning for the whole outage, not one per retry.
          expect(atStartup.filter((line) => line.msg === 'redis connection error; retrying')).toHaveLength(1)
          expect(stillDownLines(atStartup).at(-1)).toMatchObject({ queueFrames: 0 })

          await redis.restart()
          await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= 500, { what: 'cursor 500', timeoutMs: 30_000, state: () => ingestor.status() })
          expect(lines.find((line) => line.msg === 'redis connected')).toMatchObject({ retries: expect.any(Number), downForMs: expect.any(Number) })

          lines.splice(0)
          await redis.kill()
          await waitUntil(() => stillDownLines(lines).length >= 3 && statusLines(lines).length >= 5, {
            what: '3 "still down" lines and 5 status lines during the mid-run outage',
            timeoutMs: 20_000,
          })
          await redis.restart()
          await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= FRAMES, { what: 'the last seq', timeoutMs: 60_000, state: () => ingestor.status() })
          expect(lines.some((line) => line.msg === 'redis reconnected')).toBe(true)
        } finally {
          await ingestor.stop()
        }
      })
      expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning')
      expect(await redis.cli('XLEN', keys.stream)).toBe(String(FRAMES))
    } finally {
      await relay.close()
      await redis.stop()
    }
    // Above the sum of its waits (130 s), so a stall fails the wait that names its stage.
  }, 140_000)
})

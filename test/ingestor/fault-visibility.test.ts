import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle } from '../../ingestor/index.js'
import type { ReplayHandle } from '../../replay/index.js'
import { capturingLogger, type LogLine } from '../support/capturing-logger.js'
import { loadIngestor, replay, sequencedRealFrames, startOwnRedis, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const FRAMES = 3000
/** Short, so the "still" lines come within the test; production defaults are 30 s and 10 s. */
const STILL_INTERVAL_MS = 300
const WRITE_TIMEOUT_MS = 500

const WARN = 40
const count = (lines: readonly LogLine[], message: string | RegExp): number => lines.filter((line) => (typeof message === 'string' ? line.msg === message : message.test(line.msg))).length

/**
 * Every Redis fault is visible (docs/ingestor.md "Faults"): a warning at once, a "still failing"
 * line every interval while it lasts, status().redis.ready false meanwhile (the status line's
 * redisReady), a line when it ends; and nothing lost or duplicated.
 */
describe('Redis faults that keep the connection open are logged and shown, not silent', () => {
  const temp = tempDir()
  let fixture: string
  beforeAll(async () => {
    fixture = await writeFixture(join(temp.dir, 'visible.fixture.gz'), sequencedRealFrames(FRAMES))
  })
  afterAll(() => temp.cleanup())

  async function run(fault: { start: (admin: Redis, pid: number) => Promise<void>; end: (admin: Redis, pid: number) => Promise<void>; firstWarning: RegExp }): Promise<void> {
    const redis = await startOwnRedis()
    const admin = new Redis(redis.url)
    const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1])
    let relay: ReplayHandle | null = null
    let ingestor: IngestorHandle | null = null
    let faulted = false
    try {
      relay = await replay([fixture], { rate: { mode: 'rate', eventsPerSec: 1500 }, start: 'first-client' })
      const keys = uniqueKeys('test:fault-visibility')
      const { logger, lines } = capturingLogger()
      const { startIngestor } = await loadIngestor()
      ingestor = await startIngestor({
        relayUrl: relay.url,
        redisUrl: redis.url,
        stream: keys.stream,
        cursorKey: keys.cursorKey,
        startCursor: 0,
        statusIntervalMs: 0,
        redisDownLogIntervalMs: STILL_INTERVAL_MS,
        readyWriteTimeoutMs: WRITE_TIMEOUT_MS,
        redisBackoff: { initialMs: 20, maxMs: 100 },
        logger,
      })
      const handle = ingestor
      await waitUntil(() => (handle.status().storedCursor ?? 0) >= 300, { what: 'cursor 300', timeoutMs: 20_000 })
      expect(handle.status().redis).toEqual({ ready: true, writesFailingForMs: null, lastError: null })
      await fault.start(admin, pid)
      faulted = true
      await waitUntil(() => lines.some((line) => line.level === WARN && fault.firstWarning.test(line.msg)), { what: 'the first warning', timeoutMs: 10_000 })
      await waitUntil(() => count(lines, /^redis writes still failing for \d+ s$/) >= 2, { what: 'two "still failing" lines', timeoutMs: 10_000 })
      expect(count(lines, fault.firstWarning)).toBe(1)
      expect(handle.status().redis.ready).toBe(false)
      expect(handle.status().redis.writesFailingForMs).toBeGreaterThanOrEqual(STILL_INTERVAL_MS)
      await fault.end(admin, pid)
      faulted = false
      await waitUntil(() => count(lines, 'redis writes succeed again') === 1, { what: 'the recovery line', timeoutMs: 20_000 })
      await waitUntil(() => (handle.status().storedCursor ?? 0) >= FRAMES, { what: 'the last seq', timeoutMs: 60_000 })
      expect(handle.status().redis).toEqual({ ready: true, writesFailingForMs: null, lastError: null })
      expect(lines.find((line) => line.msg === 'redis writes succeed again')).toMatchObject({ failingForMs: expect.any(Number) })
      await handle.stop()
      const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture) })
      expect(result, JSON.stringify(result).slice(0, 2000)).toMatchObject({ ok: true, delivered: FRAMES })
    } finally {
      if (faulted) await fault.end(admin, pid)
      await ingestor?.stop()
      await relay?.close()
      admin.disconnect()
      await redis.stop()
    }
  }

  it('a hung Redis (SIGSTOP): a warning within --ready-write-timeout, "still failing" lines, redis.ready false', async () => {
    await run({
      start: async (_admin, pid) => void process.kill(pid, 'SIGSTOP'),
      end: async (_admin, pid) => void process.kill(pid, 'SIGCONT'),
      firstWarning: /^redis has not answered a write for 0\.5 s/,
    })
  })

  it('Redis out of memory (maxmemory, noeviction): a warning with the OOM reply, "still failing" lines, redis.ready false', async () => {
    await run({
      start: async (admin) => {
        await admin.config('SET', 'maxmemory-policy', 'noeviction')
        await admin.config('SET', 'maxmemory', '1')
      },
      end: async (admin) => void (await admin.config('SET', 'maxmemory', '0')),
      firstWarning: /^redis write failed; relay paused until it succeeds$/,
    })
  })

  it('an unresolvable Redis host: retried like an outage, the cause (ENOTFOUND) in the log, the "still down" lines and status().redis.lastError', async () => {
    const { logger, lines } = capturingLogger()
    const { startIngestor } = await loadIngestor()
    // .invalid never resolves (RFC 2606).
    const handle = await startIngestor({
      relayUrl: 'ws://127.0.0.1:1',
      redisUrl: 'redis://nohost.invalid:6379',
      statusIntervalMs: 0,
      redisDownLogIntervalMs: STILL_INTERVAL_MS,
      redisBackoff: { initialMs: 20, maxMs: 100 },
      logger,
    })
    try {
      await waitUntil(() => count(lines, /^redis still down for \d+ s$/) >= 2, { what: 'two "still down" lines', timeoutMs: 10_000 })
      expect(lines.find((line) => line.msg === 'redis connection error; retrying')).toMatchObject({ err: { message: expect.stringMatching(/ENOTFOUND nohost\.invalid/) } })
      expect(lines.filter((line) => /^redis still down for/.test(line.msg)).at(-1)).toMatchObject({ err: { message: expect.stringMatching(/ENOTFOUND/) } })
      expect(handle.status()).toMatchObject({ state: 'starting', redis: { ready: false, lastError: expect.stringMatching(/ENOTFOUND nohost\.invalid/) } })
    } finally {
      await handle.stop()
    }
  })
})

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cliEntryPoint } from '../../harness/ingestor-process.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorOptions } from '../../ingestor/index.js'
import { withSeq } from '../../replay/index.js'
import { loadIngestor, readStream, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture, ownRedisForSuite } from './helpers.js'

/** A cursor stored by a long-running deployment (the issue saw ~20,000,000,000). */
const STORED = 20_000_000_000

describe('the stored cursor never moves backwards by accident', () => {
  const temp = tempDir()
  const own = ownRedisForSuite()
  afterAll(() => temp.cleanup())

  async function start(keys: ReturnType<typeof uniqueKeys>, relayUrl: string, options: Partial<IngestorOptions> = {}) {
    const { startIngestor } = await loadIngestor()
    return startIngestor({ relayUrl, redisUrl: own.redis.url, stream: keys.stream, cursorKey: keys.cursorKey, statusIntervalMs: 0, relayBackoff: { initialMs: 50, maxMs: 200 }, ...options })
  }

  it('a malformed frame with a lower seq (here after FutureCursor -> live) is dead-lettered, and the cursor stays', async () => {
    // A real frame with seq 777, cut in half: its seq is readable, the frame does not decode.
    const whole = withSeq(sequencedRealFrames(1)[0]!, 777)
    const fixture = await writeFixture(join(temp.dir, 'malformed-777.fixture.gz'), [whole.subarray(0, Math.floor(whole.byteLength / 2))])
    // Paused: nothing published, so our cursor is in its future; the frame goes out once we are live.
    const relay = await replay([fixture], { start: 'paused' })
    const keys = uniqueKeys('test:cursor-safety')
    await own.admin.set(keys.cursorKey, String(STORED))
    const handle = await start(keys, relay.url)
    try {
      await waitUntil(() => handle.status().counters.futureCursor === 1 && handle.status().relay.connected && handle.status().relay.connects >= 2, { what: 'a live connection after FutureCursor', timeoutMs: 20_000 })
      relay.resume()
      await waitUntil(() => handle.status().counters.deadLettered === 1 && handle.status().counters.batchesWritten === 1, { what: 'the dead letter written', timeoutMs: 20_000 })
      expect(await own.admin.get(keys.cursorKey)).toBe(String(STORED))
      expect(handle.status().storedCursor).toBe(STORED)
      const [dead] = await own.admin.xrange(keys.dead, '-', '+')
      expect(dead![1].slice(0, 4)).toEqual(['seq', '777', 'code', 'FRAME_TRUNCATED'])
      expect(await own.admin.xlen(keys.stream)).toBe(0)
    } finally {
      await handle.stop()
      await relay.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })

  describe('a start cursor over a different stored cursor', () => {
    const FRAMES = 300
    let fixture: string
    beforeAll(async () => {
      fixture = await writeFixture(join(temp.dir, 'start-cursor.fixture.gz'), sequencedRealFrames(FRAMES))
    })

    it('is refused (INGESTOR_CURSOR_CONFLICT) before anything is written', async () => {
      const relay = await replay([fixture])
      const keys = uniqueKeys('test:cursor-safety')
      await own.admin.set(keys.cursorKey, '150')
      const handle = await start(keys, relay.url, { startCursor: 0 })
      try {
        await handle.done
        expect(handle.status()).toMatchObject({ stoppedBy: 'fatal', counters: { eventsWritten: 0 } })
        expect(handle.error()).toMatchObject({ code: 'INGESTOR_CURSOR_CONFLICT' })
        expect((handle.error() as Error).message).toMatch(/start cursor 0 differs from the cursor 150 .*--force-cursor/)
        expect(await own.admin.get(keys.cursorKey)).toBe('150')
        expect(await own.admin.exists(keys.stream)).toBe(1) // the group's MKSTREAM; no entries
        expect(await own.admin.xlen(keys.stream)).toBe(0)
      } finally {
        await relay.close()
        await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
      }
    })

    it('runs with forceCursor (events after the start cursor are written again), and an equal start cursor needs no force', async () => {
      const relay = await replay([fixture])
      const keys = uniqueKeys('test:cursor-safety')
      await own.admin.set(keys.cursorKey, '150')
      const forced = await start(keys, relay.url, { startCursor: 100, forceCursor: true })
      try {
        await waitUntil(() => forced.status().storedCursor === FRAMES, { what: `cursor ${FRAMES}`, timeoutMs: 20_000 })
      } finally {
        await forced.stop()
      }
      const seqs = (await readStream(own.redis.url, keys.stream)).map((fields) => Number(fields[5]))
      expect(seqs).toEqual(Array.from({ length: FRAMES - 100 }, (_, i) => 101 + i))
      const same = await start(keys, relay.url, { startCursor: FRAMES })
      try {
        await waitUntil(() => same.status().relay.connected, { what: 'connected', timeoutMs: 20_000 })
        expect(same.status().state).toBe('running')
      } finally {
        await same.stop()
        await relay.close()
        await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
      }
    })

    it('CLI: --cursor over a different stored cursor exits 2 with one line naming --force-cursor', async () => {
      const keys = uniqueKeys('test:cursor-safety')
      await own.admin.set(keys.cursorKey, '1500')
      const result = spawnSync(
        process.execPath,
        [cliEntryPoint(), 'ingest', '--redis', own.redis.url, '--relay', 'ws://127.0.0.1:1', '--stream', keys.stream, '--cursor-key', keys.cursorKey, '--cursor', '0', '--status-interval', '3600'],
        { env: { PATH: process.env.PATH, FIREHOSE_LOG_LEVEL: 'silent' }, encoding: 'utf8', timeout: 20_000 },
      )
      try {
        expect(result.status).toBe(2)
        expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^firehose ingest: start cursor 0 differs from the cursor 1500 stored in .*--force-cursor/)])
        expect(await own.admin.get(keys.cursorKey)).toBe('1500')
      } finally {
        await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
      }
    })
  })
})

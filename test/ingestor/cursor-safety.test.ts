import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorOptions } from '../../ingestor/index.js'
import { withSeq } from '../../replay/index.js'
import { runCli } from '../support/cli.js'
import { loadIngestor, malformedCommitFrame, readStream, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture, ownRedisForSuite } from './helpers.js'

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

  describe("a malformed frame's seq is only a hint: it never moves the cursor or the position on its own say-so (I15)", () => {
    it('a far-future seq in an undecodable #commit after frame 1,000 of 5,000: quarantined, nothing skipped, 0 missing', async () => {
      const good = sequencedRealFrames(5000)
      const bogus = malformedCommitFrame(20_000_900_000)
      const fixture = await writeFixture(join(temp.dir, 'far-future-malformed.fixture.gz'), [...good.slice(0, 1000), bogus, ...good.slice(1000)])
      const relay = await replay([fixture], { start: 'first-client' })
      const keys = uniqueKeys('test:cursor-safety')
      const handle = await start(keys, relay.url, { startCursor: 0 })
      try {
        await waitUntil(() => handle.status().storedCursor === 5000, { what: 'cursor 5000', timeoutMs: 30_000 })
        expect(handle.status().counters).toMatchObject({ untrustedSeqs: 1, deadLettered: 1, skippedBackwards: 0 })
      } finally {
        await handle.stop()
        await relay.close()
      }
      const seqs = (await readStream(own.redis.url, keys.stream)).map((fields) => Number(fields[5]))
      expect(seqs).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1))
      const dead = await own.admin.xrange(keys.dead, '-', '+')
      expect(dead.map(([, fields]) => fields.slice(0, 4))).toEqual([['seq', '20000900000', 'code', 'FRAME_BAD_CAR']])
      expect(await own.admin.get(keys.cursorKey)).toBe('5000')
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    })

    it('the first frame of a run without a cursor, malformed with any seq, does not set the position either', async () => {
      const good = sequencedRealFrames(50, 101)
      const fixture = await writeFixture(join(temp.dir, 'first-malformed.fixture.gz'), [malformedCommitFrame(20_000_900_000), ...good])
      const relay = await replay([fixture], { start: 'first-client' })
      const keys = uniqueKeys('test:cursor-safety')
      const handle = await start(keys, relay.url)
      try {
        await waitUntil(() => handle.status().storedCursor === 150, { what: 'cursor 150', timeoutMs: 20_000 })
        expect(handle.status().counters).toMatchObject({ untrustedSeqs: 1, deadLettered: 1 })
      } finally {
        await handle.stop()
        await relay.close()
      }
      expect(await own.admin.xlen(keys.stream)).toBe(50)
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    })

    it('a malformed frame in sequence: the cursor stays below it until a well-formed frame above it is written', async () => {
      const good = sequencedRealFrames(12)
      const cut = good[10]!.subarray(0, Math.floor(good[10]!.byteLength / 2)) // seq 11, readable; the frame does not decode
      const keys = uniqueKeys('test:cursor-safety')
      const first = await writeFixture(join(temp.dir, 'ends-malformed.fixture.gz'), [...good.slice(0, 10), cut])
      const relayA = await replay([first], { start: 'first-client' })
      const a = await start(keys, relayA.url, { startCursor: 0 })
      try {
        await waitUntil(() => a.status().counters.deadLettered === 1 && a.status().storedCursor === 10, { what: 'seq 1-10 written, 11 dead-lettered', timeoutMs: 20_000 })
      } finally {
        await a.stop()
        await relayA.close()
      }
      expect(await own.admin.get(keys.cursorKey)).toBe('10')
      // Fetched again from the cursor: the dead letter twice (at least once), the next frame moves the cursor past it.
      const second = await writeFixture(join(temp.dir, 'then-good.fixture.gz'), [...good.slice(0, 10), cut, good[11]!])
      const relayB = await replay([second])
      const b = await start(keys, relayB.url)
      try {
        await waitUntil(() => b.status().storedCursor === 12, { what: 'cursor 12', timeoutMs: 20_000 })
      } finally {
        await b.stop()
        await relayB.close()
      }
      const seqs = (await readStream(own.redis.url, keys.stream)).map((fields) => Number(fields[5]))
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12])
      expect((await own.admin.xrange(keys.dead, '-', '+')).map(([, fields]) => fields[1])).toEqual(['11', '11'])
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    })
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
      const result = await runCli(['ingest', '--redis', own.redis.url, '--relay', 'ws://127.0.0.1:1', '--stream', keys.stream, '--cursor-key', keys.cursorKey, '--cursor', '0', '--status-interval', '3600'], {
        env: { FIREHOSE_LOG_LEVEL: 'silent' },
      })
      try {
        expect(result.code).toBe(2)
        expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^firehose ingest: start cursor 0 differs from the cursor 1500 stored in .*--force-cursor/)])
        expect(await own.admin.get(keys.cursorKey)).toBe('1500')
      } finally {
        await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
      }
    })
  })
})

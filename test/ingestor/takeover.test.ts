import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { FirehoseConsumer } from '../../consumer/consumer.js'
import type { StreamEvent } from '../../consumer/events.js'
import { createLegacyQueue, type LegacyQueueEvent } from '../../consumer/legacy-queue.js'
import { IngestorProcess } from '../../harness/ingestor-process.js'
import { compareStreams } from '../../stream-check/stream-compare.js'
import { waitUntil } from '../../harness/wait.js'
import type { ReplayHandle } from '../../replay/index.js'
import { runCli } from '../support/cli.js'
import { writeAsLegacyConsumer } from '../support/legacy-consumer.js'
import { loadIngestor, ownRedisForSuite, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture } from './helpers.js'

/** FIREHOSE_TEST_SEED reruns a failure; the seed is in the assertion messages. */
const SEED = Number(process.env.FIREHOSE_TEST_SEED ?? SeededRandom.freshSeed())
const FRAMES = 1500
/** The legacy consumer wrote up to here... */
const LEGACY_WROTE = 1000
/** ...but its last cursor SET (every ~5 s) said here. */
const LEGACY_CURSOR = 800

/**
 * Taking over from the legacy consumer (docs/migration.md, invariant I22): Redis prepared exactly
 * as the legacy consumer leaves it (its entries, its cursor lagging them), then our ingestor with
 * --legacy-cursor-key: no gap, nothing twice, the skipped span counted; the legacy cursor kept
 * equal to ours (rollback); workers reading both formats; the shadow run compared.
 */
describe('taking over from the legacy consumer (--legacy-cursor-key)', () => {
  const temp = tempDir()
  const own = ownRedisForSuite()
  let frames: Uint8Array[]
  let fixture: string
  let relay: ReplayHandle
  beforeAll(async () => {
    frames = sequencedRealFrames(FRAMES)
    fixture = await writeFixture(join(temp.dir, 'takeover.fixture.gz'), frames)
    relay = await replay([fixture])
    await waitUntil(() => relay.status().finished, { what: 'the replay to publish everything', timeoutMs: 20_000 })
  })
  afterAll(async () => {
    await relay.close()
    temp.cleanup()
  })

  const seqsOf = async (stream: string): Promise<number[]> => (await own.admin.xrange(stream, '-', '+')).map(([, fields]) => Number(fields[5]))
  const every = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

  it('continues after the last entry the legacy consumer wrote: no gap, 0 duplicates, the 200 entries past its cursor counted, both cursors at the last seq; workers read both formats in order', async () => {
    const keys = uniqueKeys('test:takeover')
    const legacyKey = `${keys.cursorKey}:python`
    await writeAsLegacyConsumer(own.admin, keys.stream, frames.slice(0, LEGACY_WROTE), legacyKey, LEGACY_CURSOR)
    const { startIngestor } = await loadIngestor()
    const handle = await startIngestor({ relayUrl: relay.url, redisUrl: own.redis.url, stream: keys.stream, cursorKey: keys.cursorKey, legacyCursorKey: legacyKey, statusIntervalMs: 0 })
    try {
      await waitUntil(() => handle.status().storedCursor === FRAMES, { what: `cursor ${FRAMES}`, timeoutMs: 30_000 })
      expect(handle.status().counters).toMatchObject({ takeoverSkipped: LEGACY_WROTE - LEGACY_CURSOR, skippedKnown: expect.any(Number) })
    } finally {
      await handle.stop()
    }
    expect(await seqsOf(keys.stream)).toEqual(every(1, FRAMES))
    expect(await own.admin.mget(keys.cursorKey, legacyKey)).toEqual([String(FRAMES), String(FRAMES)])

    // Workers: one stream, both formats, in seq order, none dead-lettered.
    const seen: StreamEvent[] = []
    const consumer = new FirehoseConsumer({ redis: own.redis.url, stream: keys.stream, group: 'workers', consumer: 'w1' })
    await consumer.start(async (event) => void seen.push(event))
    try {
      await waitUntil(() => seen.length === FRAMES, { what: `${FRAMES} events delivered`, timeoutMs: 20_000 })
    } finally {
      await consumer.stop()
    }
    expect(seen.map((event) => event.seq)).toEqual(every(1, FRAMES))
    expect(seen.map((event) => event.format)).toEqual([...Array<string>(LEGACY_WROTE).fill('legacy'), ...Array<string>(FRAMES - LEGACY_WROTE).fill('firehose')])
    expect(await own.admin.exists(`${keys.stream}:dead-consumer`)).toBe(0)
    const queue = createLegacyQueue({ redis: own.redis.url, stream: keys.stream, group: 'legacy-workers' })
    const consumed: LegacyQueueEvent[] = []
    try {
      while (consumed.length < FRAMES) {
        const page = await queue.consume('legacy-1', 500)
        expect(page.length, 'a page while entries remain').toBeGreaterThan(0)
        consumed.push(...page)
      }
    } finally {
      await queue.disconnect()
    }
    expect(consumed.map((event) => Number(event.seq))).toEqual(every(1, FRAMES))
    await own.admin.del(keys.stream, keys.cursorKey, legacyKey)
  })

  it('switching back and forth: after a rollback the legacy consumer wrote more; the next takeover starts after its newest entry, and our stored cursor is the base', async () => {
    const keys = uniqueKeys('test:takeover')
    const legacyKey = `${keys.cursorKey}:python`
    // Ours wrote 1..600 (cursor 600, legacy cursor kept at 600), then the legacy consumer ran again and wrote 601..900 (cursor SET at 850).
    await writeAsLegacyConsumer(own.admin, keys.stream, frames.slice(0, 600), legacyKey, 600)
    await own.admin.set(keys.cursorKey, '600')
    await writeAsLegacyConsumer(own.admin, keys.stream, frames.slice(600, 900), legacyKey, 850)
    const { startIngestor } = await loadIngestor()
    const handle = await startIngestor({ relayUrl: relay.url, redisUrl: own.redis.url, stream: keys.stream, cursorKey: keys.cursorKey, legacyCursorKey: legacyKey, statusIntervalMs: 0 })
    try {
      await waitUntil(() => handle.status().storedCursor === FRAMES, { what: `cursor ${FRAMES}`, timeoutMs: 30_000 })
      expect(handle.status().counters.takeoverSkipped).toBe(300)
    } finally {
      await handle.stop()
    }
    expect(await seqsOf(keys.stream)).toEqual(every(1, FRAMES))
    await own.admin.del(keys.stream, keys.cursorKey, legacyKey)
  })

  it(`rollback: after kill -9s at seeded points (seed ${SEED}) the legacy cursor equals ours and the newest entry's seq, so the legacy consumer resumes with no gap and nothing twice`, async () => {
    const random = new SeededRandom(SEED)
    const keys = uniqueKeys('test:takeover')
    const legacyKey = `${keys.cursorKey}:python`
    await writeAsLegacyConsumer(own.admin, keys.stream, frames.slice(0, 300), legacyKey, 250)
    for (let life = 0; life < 3; life++) {
      const grow = random.int(50, 300)
      const before = await own.admin.xlen(keys.stream)
      const child = IngestorProcess.start({ relayUrl: relay.url, redisUrl: own.redis.url, stream: keys.stream, cursorKey: keys.cursorKey, args: ['--legacy-cursor-key', legacyKey, '--batch-size', '40'] })
      await waitUntil(async () => (await own.admin.xlen(keys.stream)) >= Math.min(before + grow, FRAMES) || child.exit !== null, { what: `+${grow} entries (seed ${SEED})`, timeoutMs: 30_000, intervalMs: 5 })
      await child.kill9()
      const [cursor, legacy] = await own.admin.mget(keys.cursorKey, legacyKey)
      const [newest] = await own.admin.xrevrange(keys.stream, '+', '-', 'COUNT', 1)
      expect([legacy, cursor], `seed ${SEED}, life ${life}`).toEqual([newest![1][5], newest![1][5]])
    }
    // The legacy consumer, restarted at its cursor, writes the rest: the stream is whole.
    const legacyCursor = Number(await own.admin.get(legacyKey))
    await writeAsLegacyConsumer(own.admin, keys.stream, frames.slice(legacyCursor), legacyKey, FRAMES)
    expect(await seqsOf(keys.stream), `seed ${SEED}`).toEqual(every(1, FRAMES))
    await own.admin.del(keys.stream, keys.cursorKey, legacyKey)
  })

  it('shadow run: our stream beside the legacy one, compared; they agree on what both contain, ours carries the records; a seq one lacks is a disagreement (exit 1)', async () => {
    const legacy = uniqueKeys('test:shadow-legacy')
    const shadow = uniqueKeys('test:shadow-ours')
    await writeAsLegacyConsumer(own.admin, legacy.stream, frames, legacy.cursorKey, FRAMES)
    const { startIngestor } = await loadIngestor()
    const handle = await startIngestor({ relayUrl: relay.url, redisUrl: own.redis.url, stream: shadow.stream, cursorKey: shadow.cursorKey, startCursor: 500, statusIntervalMs: 0 })
    try {
      await waitUntil(() => handle.status().storedCursor === FRAMES, { what: `cursor ${FRAMES}`, timeoutMs: 30_000 })
    } finally {
      await handle.stop()
    }
    const result = await compareStreams(own.admin, shadow.stream, legacy.stream)
    expect(result).toMatchObject({
      ok: true,
      overlap: [501, FRAMES],
      outsideOverlap: { a: 0, b: 500 },
      onlyInA: { count: 0 },
      onlyInB: { count: 0 },
      dataDiffers: { count: 0 },
      typeDiffers: { count: 0 },
      recordsOnlyInB: 0,
    })
    expect(result.recordsOnlyInA).toBeGreaterThan(0)
    const agree = await runCli(['compare', '--stream', shadow.stream, '--stream', legacy.stream], { env: { REDIS_URL: own.redis.url } })
    expect(agree.code, agree.stderr).toBe(0)
    expect(agree.stdout).toMatch(/^both cover: +seqs 501\.\.1500$/m)
    expect(agree.stdout).toMatch(/^OK: they agree/m)
    // The legacy stream loses seq 1000: only ours has it.
    const [missing] = (await own.admin.xrange(legacy.stream, '-', '+')).filter(([, fields]) => fields[5] === '1000')
    await own.admin.xdel(legacy.stream, missing![0])
    const differ = await runCli(['compare', '--stream', shadow.stream, '--stream', legacy.stream, '--json'], { env: { REDIS_URL: own.redis.url } })
    expect(differ.code).toBe(1)
    expect(JSON.parse(differ.stdout)).toMatchObject({ ok: false, onlyInA: { count: 1, ranges: [[1000, 1000]] } })
    await own.admin.del(legacy.stream, legacy.cursorKey, shadow.stream, shadow.cursorKey)
  })
})

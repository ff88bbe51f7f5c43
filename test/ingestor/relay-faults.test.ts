import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorCounters, IngestorHandle, IngestorOptions } from '../../ingestor/index.js'
import type { FaultSpec, ReplayHandle } from '../../replay/index.js'
import { loadIngestor, readStream, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture, ownRedisForSuite } from './helpers.js'

const FRAMES = 600
const AT = 200

interface FaultCase {
  name: string
  faults: FaultSpec[]
  /** Fault kinds whose recorded seqs never reach the stream (swallowed, truncated, regressed). */
  lostKinds?: string[]
  options?: Partial<IngestorOptions>
  expect: (counters: IngestorCounters, status: ReturnType<IngestorHandle['status']>, ctx: { deadLetters: string[][] }) => void
}

/** Each fault of the replay server's menu and what the ingestor must do about it. */
const CASES: FaultCase[] = [
  { name: 'drop (TCP cut): reconnect from the cursor', faults: [{ kind: 'drop', atFrame: AT }], expect: (_c, s) => expect(s.relay.reconnects).toBeGreaterThanOrEqual(1) },
  { name: 'close 1011: reconnect', faults: [{ kind: 'close', atFrame: AT, code: 1011 }], expect: (_c, s) => expect(s.relay.reconnects).toBeGreaterThanOrEqual(1) },
  {
    name: 'stall (no frames, no pongs): stall timeout -> reconnect',
    faults: [{ kind: 'stall', atFrame: AT, durationMs: 3000 }],
    options: { stallTimeoutMs: 600 },
    expect: (_c, s) => expect(s.relay.reconnects).toBeGreaterThanOrEqual(1),
  },
  {
    name: 'refused handshakes (503 + Retry-After 0) after a drop: retried until accepted',
    faults: [
      { kind: 'refuse-handshake', atFrame: AT, count: 2, status: 503, retryAfterSec: 0 },
      { kind: 'drop', atFrame: AT + 1 },
    ],
    expect: (_c, s) => expect(s.relay.reconnects).toBeGreaterThanOrEqual(3),
  },
  {
    name: 'garbage frames: dead-lettered with their bytes, counted',
    faults: [{ kind: 'garbage', atFrame: AT, count: 3, bytes: 64 }],
    expect: (c, _s, { deadLetters }) => {
      expect(c.deadLettered).toBe(3)
      expect(deadLetters).toHaveLength(3)
    },
  },
  {
    name: 'truncated frames: dead-lettered under their seq; the cursor moves past them',
    faults: [{ kind: 'truncate', atFrame: AT, count: 2 }],
    lostKinds: ['truncate'],
    expect: (c, _s, { deadLetters }) => {
      expect(c.deadLettered).toBe(2)
      expect(deadLetters.map((f) => f[3])).toEqual(['FRAME_TRUNCATED', 'FRAME_TRUNCATED'])
    },
  },
  {
    name: 'oversize frame (> 5 MB): dead-lettered as FRAME_TOO_LARGE',
    faults: [{ kind: 'oversize', atFrame: AT }],
    expect: (c, _s, { deadLetters }) => {
      expect(c.deadLettered).toBe(1)
      expect(deadLetters[0]?.[3]).toBe('FRAME_TOO_LARGE')
    },
  },
  { name: 'unknown `t`: skipped and counted', faults: [{ kind: 'unknown-type', atFrame: AT, type: '#future' }], expect: (c) => expect(c.unknownTypes).toBe(1) },
  {
    name: 'duplicated frames: skipped (backwards / repeat) and counted',
    faults: [{ kind: 'duplicate', atFrame: AT, count: 5 }],
    expect: (c) => expect(c.skippedBackwards + c.skippedRepeat).toBe(5),
  },
  {
    name: 'regressed seqs: skipped and counted; those events are lost upstream',
    faults: [{ kind: 'regress', atFrame: AT, count: 3, by: 50 }],
    lostKinds: ['regress'],
    expect: (c) => expect(c.skippedBackwards).toBe(3),
  },
  { name: 'swallowed frames (true gap): seq jump counted', faults: [{ kind: 'swallow', atFrame: AT, count: 10 }], lostKinds: ['swallow'], expect: (c) => expect(c.seqJumps).toBe(1) },
  {
    name: 'ConsumerTooSlow error frame: reconnect from the cursor, nothing lost',
    faults: [{ kind: 'error-frame', atFrame: AT, error: 'ConsumerTooSlow', message: 'too slow' }],
    expect: (c, s) => {
      expect(c.consumerTooSlow).toBe(1)
      expect(s.relay.reconnects).toBeGreaterThanOrEqual(1)
    },
  },
  {
    name: 'unknown error frame: counted, reconnect',
    faults: [{ kind: 'error-frame', atFrame: AT, error: 'SomethingNew' }],
    expect: (c, s) => {
      expect(c.errorFrames).toBe(1)
      expect(s.relay.reconnects).toBeGreaterThanOrEqual(1)
    },
  },
  { name: '#info OutdatedCursor: warned and counted', faults: [{ kind: 'info', atFrame: AT, name: 'OutdatedCursor' }], expect: (c) => expect(c.outdatedCursor).toBe(1) },
  {
    name: 'a run of malformed frames: reconnect after --max-bad-frames in a row',
    faults: [{ kind: 'garbage', atFrame: AT, count: 12, bytes: 32 }],
    options: { maxConsecutiveBadFrames: 5 },
    expect: (c) => {
      expect(c.badFrameReconnects).toBeGreaterThanOrEqual(1)
      expect(c.deadLettered).toBeGreaterThanOrEqual(5)
    },
  },
]

describe('relay faults from the replay menu: expected outcome for each', () => {
  const temp = tempDir()
  let fixture: string
  const own = ownRedisForSuite()
  beforeAll(async () => {
    fixture = await writeFixture(join(temp.dir, 'relay-faults.fixture.gz'), sequencedRealFrames(FRAMES))
  })
  afterAll(() => temp.cleanup())

  async function ingest(relay: ReplayHandle, options: Partial<IngestorOptions> = {}): Promise<{ handle: IngestorHandle; keys: ReturnType<typeof uniqueKeys> }> {
    const keys = uniqueKeys('test:relay-faults')
    const { startIngestor } = await loadIngestor()
    const handle = await startIngestor({
      relayUrl: relay.url,
      redisUrl: own.redis.url,
      stream: keys.stream,
      cursorKey: keys.cursorKey,
      startCursor: 0,
      statusIntervalMs: 0,
      relayBackoff: { initialMs: 50, maxMs: 200 },
      ...options,
    })
    return { handle, keys }
  }

  it.each(CASES)('$name', async (testCase) => {
    const relay = await replay([fixture], { faults: testCase.faults, start: 'first-client', seed: 7 })
    const { handle, keys } = await ingest(relay, testCase.options)
    try {
      await waitUntil(() => relay.status().finished && (handle.status().storedCursor ?? 0) >= FRAMES, { what: `cursor ${FRAMES}`, timeoutMs: 30_000, intervalMs: 25 })
      await handle.stop()
      const faults = relay.status().clients.flatMap((client) => client.faults)
      // Refusals happen before a client exists, so only per-client faults are in the client records.
      const perClient = testCase.faults.map((f) => f.kind).filter((kind) => kind !== 'refuse-handshake')
      expect(faults.map((f) => f.kind)).toEqual(expect.arrayContaining(perClient))
      const lost = new Set(faults.filter((f) => testCase.lostKinds?.includes(f.kind)).flatMap((f) => f.seqs))
      if (testCase.lostKinds) expect(lost.size).toBeGreaterThan(0)
      const result = await checkStream({ redisUrl: own.redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture, { skipSeqs: lost }) })
      expect(result).toMatchObject({ ok: true, delivered: FRAMES - lost.size })
      const deadLetters = (await own.admin.xrange(keys.dead, '-', '+')).map(([, fields]) => fields)
      testCase.expect(handle.status().counters, handle.status(), { deadLetters })
    } finally {
      await handle.stop()
      await relay.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })

  it('FutureCursor with --on-future-cursor exit: drains and ends with stoppedBy future-cursor (CLI exit 1)', async () => {
    const relay = await replay([fixture])
    const { handle, keys } = await ingest(relay, { startCursor: FRAMES * 10, onFutureCursor: 'exit' })
    try {
      await Promise.race([handle.done, new Promise((_, reject) => setTimeout(() => reject(new Error('did not stop')), 20_000))])
      expect(handle.status()).toMatchObject({ state: 'stopped', stoppedBy: 'future-cursor', counters: { futureCursor: 1, eventsWritten: 0 } })
    } finally {
      await relay.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })

  it('a Go-style relay that goes live silently on a future cursor: loud gap warning, counted, nothing written twice', async () => {
    const relay = await replay([fixture], { relayQuirks: true, rate: { mode: 'rate', eventsPerSec: 400 } })
    const { handle, keys } = await ingest(relay, { startCursor: FRAMES * 10 })
    try {
      await waitUntil(() => handle.status().counters.belowCursorOnConnect >= 1, { what: 'the below-cursor warning', timeoutMs: 20_000 })
      expect(handle.status().counters.eventsWritten).toBe(0)
    } finally {
      await handle.stop()
      await relay.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })

  it('FutureCursor with --on-future-cursor live: loud gap, then the live tail of a new seq space (auto IDs keep XADD working)', async () => {
    // Slow enough (10 s of timeline) that the live tail is still playing after the FutureCursor
    // round trip on a loaded machine; 20 live events take a third of a second.
    const relay = await replay([fixture], { rate: { mode: 'rate', eventsPerSec: 60 } })
    // A cursor stored by a previous relay whose seqs were far higher (a relay seq reset).
    const { handle, keys } = await ingest(relay, { startCursor: null, onFutureCursor: 'live' })
    await handle.stop()
    await own.admin.set(keys.cursorKey, String(FRAMES * 10))
    await own.admin.xadd(keys.stream, '*', 'type', 'identity', 'data', JSON.stringify({ seq: FRAMES * 10 }), 'seq', String(FRAMES * 10))
    const { startIngestor } = await loadIngestor()
    const live = await startIngestor({ relayUrl: relay.url, redisUrl: own.redis.url, stream: keys.stream, cursorKey: keys.cursorKey, statusIntervalMs: 0, relayBackoff: { initialMs: 50, maxMs: 200 } })
    try {
      await waitUntil(() => live.status().counters.eventsWritten >= 20, { what: '20 live events', timeoutMs: 20_000 })
      await live.stop()
      expect(live.status().counters.futureCursor).toBe(1)
      const seqs = (await readStream(own.redis.url, keys.stream)).map((f) => Number(f[5]))
      expect(seqs[0]).toBe(FRAMES * 10)
      const after = seqs.slice(1)
      expect(after.every((seq, i) => seq < FRAMES && (i === 0 || seq > after[i - 1]!))).toBe(true)
      expect(Number(await own.admin.get(keys.cursorKey))).toBe(after[after.length - 1])
    } finally {
      await live.stop()
      await relay.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })
})

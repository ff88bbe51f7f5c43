import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IngestorProcess } from '../../harness/ingestor-process.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import { waitUntil } from '../../harness/wait.js'
import type { EventType } from '../../ingestor/event-filter.js'
import { openFixture } from '../../fixture-file/index.js'
import { decodeEvent, type SequencedEvent } from '../../protocol/events.js'
import { isSequenced, toStreamEntry } from '../../protocol/stream-entry.js'
import { committedFixture, expectIngestUsageError, ingestUntil, legacyParse, readStream, redisGet, replay, startOwnRedis, uniqueKeys } from './helpers.js'

/** What a filter must publish from the fixture, computed without the filter module: entries (contract fields) and the counters. */
async function expectedFromFixture(keepType: (type: EventType) => boolean, keepOp: (path: string) => boolean) {
  const reader = await openFixture(committedFixture)
  const entries: string[][] = []
  let frames = 0
  let lastSeq = -1
  let filteredEvents = 0
  let filteredOps = 0
  try {
    for await (const frame of reader.frames()) {
      frames++
      const event = decodeEvent(frame.bytes)
      if (!isSequenced(event)) throw new Error('the committed fixture has only sequenced events')
      lastSeq = event.seq
      if (!keepType(event.type)) {
        filteredEvents++
        continue
      }
      let kept: SequencedEvent = event
      if (event.type === 'commit') {
        const ops = event.ops.filter((op) => keepOp(op.path))
        filteredOps += event.ops.length - ops.length
        if (ops.length === 0) {
          filteredEvents++
          continue
        }
        kept = { ...event, ops }
      }
      const entry = toStreamEntry(kept)
      entries.push(['type', entry.type, 'data', entry.data, 'seq', String(entry.seq)])
    }
  } finally {
    await reader.close()
  }
  return { entries, frames, lastSeq, filteredEvents, filteredOps }
}

describe('--collections / --types end to end (replay server -> ingestor -> redis-server)', () => {
  let redis: RedisHandle
  beforeAll(async () => {
    redis = await startOwnRedis()
  })
  afterAll(async () => {
    await redis.stop()
  })

  it.each([
    {
      name: 'posts only, decode worker',
      collections: ['app.bsky.feed.post'],
      types: ['commit'] as EventType[],
      decodeWorkers: 1,
      keepType: (t: EventType) => t === 'commit',
      keepOp: (p: string) => p.startsWith('app.bsky.feed.post/'),
    },
    {
      name: 'graph wildcard + reposts with identity events, main-thread decode',
      collections: ['app.bsky.graph.*', 'app.bsky.feed.repost'],
      types: ['commit', 'identity'] as EventType[],
      decodeWorkers: 0,
      keepType: (t: EventType) => t === 'commit' || t === 'identity',
      keepOp: (p: string) => p.startsWith('app.bsky.graph.') || p.startsWith('app.bsky.feed.repost/'),
    },
    // Most writes carry no entry at all here: the cursor must still move with each of them.
    { name: 'sync events only, 2 decode workers', collections: undefined, types: ['sync'] as EventType[], decodeWorkers: 2, keepType: (t: EventType) => t === 'sync', keepOp: () => true },
  ])("$name: only matching ops, no empty commits, every other field as decoded; cursor at the fixture's last seq; counts match the fixture", async ({ collections, types, decodeWorkers, keepType, keepOp }) => {
    const want = await expectedFromFixture(keepType, keepOp)
    const keys = uniqueKeys('test:filters')
    const relay = await replay([committedFixture])
    try {
      const handle = await ingestUntil(
        { relayUrl: relay.url, redisUrl: redis.url, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0, decodeWorkers, batchSize: 100, ...(collections ? { collections } : {}), types },
        want.lastSeq,
      )
      const stream = await readStream(redis.url, keys.stream)
      // Byte-identical to toStreamEntry of the event with only the kept ops: the other fields are untouched.
      expect(stream).toEqual(want.entries)
      for (const fields of stream) {
        const { type, data } = legacyParse(fields)
        expect(types).toContain(type)
        if (type !== 'commit') continue
        const ops = (data as { ops: { path: string }[] }).ops
        expect(ops.length).toBeGreaterThan(0)
        for (const op of ops) expect(keepOp(op.path)).toBe(true)
      }
      // The fixture's last frames are filtered out, yet the cursor advances over them.
      expect(Number(legacyParse(stream.at(-1)!).seq)).toBeLessThan(want.lastSeq)
      expect(await redisGet(redis.url, keys.cursorKey)).toBe(String(want.lastSeq))
      expect(handle.status().counters).toMatchObject({
        eventsWritten: want.entries.length,
        filteredEvents: want.filteredEvents,
        filteredOps: want.filteredOps,
        deadLettered: 0,
        unknownTypes: 0,
      })
      expect(want.entries.length + want.filteredEvents).toBe(want.frames)
      expect(want.filteredEvents).toBeGreaterThan(0)
    } finally {
      await relay.close()
    }
  })

  it('firehose ingest: --collections and FIREHOSE_TYPES reach the ingestor', async () => {
    const want = await expectedFromFixture(
      (t) => t === 'commit',
      (p) => p.startsWith('app.bsky.feed.post/'),
    )
    const keys = uniqueKeys('test:filters')
    const relay = await replay([committedFixture])
    const child = IngestorProcess.start({
      relayUrl: relay.url,
      redisUrl: redis.url,
      stream: keys.stream,
      cursorKey: keys.cursorKey,
      args: ['--cursor', '0', '--collections', 'app.bsky.feed.post'],
      env: { FIREHOSE_TYPES: 'commit' },
    })
    try {
      await waitUntil(async () => (await redisGet(redis.url, keys.cursorKey)) === String(want.lastSeq), { what: 'the cursor at the last seq', timeoutMs: 20_000 })
      expect(await readStream(redis.url, keys.stream)).toEqual(want.entries)
    } finally {
      expect(await child.stop(10_000)).toEqual({ code: 0, signal: null })
      await relay.close()
    }
  })
})

describe('--collections / --types flags', () => {
  // Option checks: each a CLI start that exits before connecting, sharing nothing: concurrent.
  it.concurrent.for([
    [['--collections', 'app.bsky'], {}, /--collections.*"app.bsky" is not a valid collection NSID/],
    [['--collections', 'app..bsky.*'], {}, /"app..bsky.\*" is not a valid NSID prefix wildcard/],
    [['--collections', 'app.bsky.feed.post,,app.bsky.graph.*'], {}, /without empty items/],
    [['--types', 'commit,info'], {}, /--types.*"info" is not an event type/],
    [[], { FIREHOSE_COLLECTIONS: 'app.bsky.feed.post,nope' }, /FIREHOSE_COLLECTIONS.*"nope"/],
    [[], { FIREHOSE_TYPES: 'Commit' }, /FIREHOSE_TYPES.*"Commit"/],
  ] as const)('rejects %j %j with exit 2 and a one-line reason, before connecting', async ([args, env, reason], { expect }) => {
    await expectIngestUsageError(args, env, reason, expect)
  })
})

import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FirehoseConsumer } from '../../consumer/consumer.js'
import { parseEntry, type StreamEvent } from '../../consumer/events.js'
import { createLegacyQueue, type LegacyQueueEvent } from '../../consumer/legacy-queue.js'
import { waitUntil } from '../../harness/wait.js'
import { snapshotBeginEntry, snapshotEndEntry, snapshotPartEntry } from '../../protocol/snapshot-entry.js'
import { entryFields } from '../../protocol/stream-entry.js'
import { LegacyWorker } from '../support/legacy-worker.js'
import { ModelAppView, diffRepos } from '../../stream-check/model-appview.js'
import { desyncScenario, type DesyncScenario } from '../support/snapshot-scenario.js'
import { addEntries, deadLetters, pendingCount, redisForFile, streamKey } from './helpers.js'

const own = redisForFile()
const consumers: FirehoseConsumer[] = []
let scenario: DesyncScenario

beforeAll(async () => {
  scenario = await desyncScenario()
})

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop()))
})

/** Runs a FirehoseConsumer over `stream` until it has handled `count` events; returns them in order. */
async function consumeAll(stream: string, count: number): Promise<{ events: StreamEvent[]; worker: FirehoseConsumer }> {
  const events: StreamEvent[] = []
  const worker = new FirehoseConsumer({ redis: own.redis.url, stream, consumer: 'snapshot-worker', blockMs: 50 })
  consumers.push(worker)
  await worker.start((event) => void events.push(event))
  await waitUntil(() => worker.stats.handled === count, { what: `${count} events handled`, timeoutMs: 10_000 })
  return { events, worker }
}

const lostLine = (s: DesyncScenario): string => `${s.did} ${s.deleted.path}: extra ${s.deleted.cid} (deleted or never written)`

describe('FirehoseConsumer delivers a repo snapshot as `snapshot` events, begin, records, end, in stream order: a worker can tell which records to replace', () => {
  it('reads the entries XADDed in contract order from a real Redis, parts typed `snapshot` with their ops, everything acked', async () => {
    const stream = streamKey('snapshot')
    const ids = await addEntries(own.client, stream, scenario.entries)
    const { events, worker } = await consumeAll(stream, scenario.entries.length)

    expect(events.map((event) => event.messageId)).toEqual(ids)
    expect(events.map((event) => (event.type === 'snapshot' ? `snapshot ${event.data.phase}` : event.type))).toEqual([
      'commit',
      'identity',
      'snapshot begin',
      'snapshot records',
      'snapshot records',
      'snapshot end',
      'commit',
    ])
    const snapshot = events.filter((event) => event.type === 'snapshot').map((event) => event.data)
    expect(snapshot.map((data) => [data.did, data.id])).toEqual(Array.from({ length: 4 }, () => [scenario.did, snapshot[0]!.id]))
    expect(snapshot.map((data) => (data.phase === 'records' ? [data.part, data.ops.map((op) => op.path)] : data.phase))).toEqual([
      'begin',
      [0, ['app.bsky.feed.post/3kaaa', 'app.bsky.feed.post/3kccc']],
      [1, ['app.bsky.feed.post/3kddd']],
      'end',
    ])
    expect(snapshot[3]).toMatchObject({ phase: 'end', records: 3, parts: 2, complete: true })
    // The seq repeats (the shard's cursor at the write): it is the #identity's, before the snapshot.
    expect(events.slice(1, 6).map((event) => event.seq)).toEqual([11, 11, 11, 11, 11])
    expect(worker.stats).toMatchObject({ handled: 7, acked: 7, malformed: 0, unknownTypes: 0 })
    expect(await pendingCount(own.client, stream)).toBe(0)
  })

  it('a worker applying them as docs/consumer.md says (the model AppView) ends with the repo: the record deleted during the desync is gone', async () => {
    const stream = streamKey('snapshot-apply')
    await addEntries(own.client, stream, scenario.entries)
    const { events } = await consumeAll(stream, scenario.entries.length)
    const model = new ModelAppView()
    for (const event of events) model.applyEvent(event)
    expect(diffRepos(model.repos(), scenario.truth)).toEqual([])
  })
})

describe('a legacy worker (type f[1], data f[3] by position, commits only) upserts the snapshot records but misses begin and end: what was deleted during the desync stays', () => {
  it('reading the same stream by position, it holds the truth plus exactly the deleted record', async () => {
    const stream = streamKey('snapshot-legacy')
    await addEntries(own.client, stream, scenario.entries)
    const worker = new LegacyWorker()
    for (const [, fields] of await own.client.xrange(stream, '-', '+')) worker.handle(fields)
    expect(diffRepos(worker.result(), scenario.truth)).toEqual([lostLine(scenario)])
  })

  it('createLegacyQueue (the redis-queue.ts drop-in) reads them as redis-queue.ts did: parts are commits, begin and end are skipped as an unknown type', async () => {
    const stream = streamKey('snapshot-legacy-queue')
    await addEntries(own.client, stream, scenario.entries)
    const redisQueue = createLegacyQueue({ redis: own.redis.url, stream })
    const events: LegacyQueueEvent[] = []
    try {
      await waitUntil(
        async () => {
          for (const event of await redisQueue.consume('legacy-worker')) {
            events.push(event)
            await redisQueue.ack(event.messageId)
          }
          return events.length === 5
        },
        { what: '5 events', timeoutMs: 10_000 },
      )
    } finally {
      await redisQueue.disconnect()
    }
    expect(events.map((event) => event.type)).toEqual(['commit', 'identity', 'commit', 'commit', 'commit'])
    expect(events.slice(2, 4).map((event) => (event.data as { snapshot?: unknown }).snapshot)).toEqual([
      { id: expect.any(String), part: 0 },
      { id: expect.any(String), part: 1 },
    ])
    const worker = new LegacyWorker()
    for (const event of events) worker.handle(['type', event.type, 'data', JSON.stringify(event.data)])
    expect(diffRepos(worker.result(), scenario.truth)).toEqual([lostLine(scenario)])
    expect(await pendingCount(own.client, stream)).toBe(0)
  })
})

const did = 'did:plc:parseentrycaseaaaaaaaaaa'
const head = { did, id: 'r:1', rev: '3lmxjzbfkb522', data: 'bafyreid', commit: 'bafyreic' }
const TIME = '2026-12-07T10:00:00.000Z'

describe('parseEntry recognises snapshot entries by `type snapshot` and by a commit carrying `snapshot: {id, part}`; other commits are commits', () => {
  it('begin, records and end', () => {
    const ops = [{ action: 'create' as const, path: 'app.bsky.feed.post/3k', cid: 'bafyreia', record: { text: 'a' } }]
    const parsed = [snapshotBeginEntry(head, 5, TIME), snapshotPartEntry(head, 3, ops, 5, TIME), snapshotEndEntry(head, { records: 1, parts: 1, complete: false }, 5, TIME)].map((entry) =>
      parseEntry('1-0', entryFields(entry), 1),
    )
    expect(parsed).toEqual([
      { kind: 'event', event: { type: 'snapshot', seq: 5, format: 'firehose', messageId: '1-0', deliveries: 1, data: { ...head, phase: 'begin', time: TIME, seq: 5 } } },
      {
        kind: 'event',
        event: { type: 'snapshot', seq: 5, format: 'firehose', messageId: '1-0', deliveries: 1, data: { phase: 'records', did, id: 'r:1', part: 3, rev: head.rev, commit: head.commit, ops, time: TIME, seq: 5 } },
      },
      {
        kind: 'event',
        event: { type: 'snapshot', seq: 5, format: 'firehose', messageId: '1-0', deliveries: 1, data: { ...head, phase: 'end', records: 1, parts: 1, complete: false, time: TIME, seq: 5 } },
      },
    ])
  })
})

describe('malformed snapshot data is `malformed` like any other type (dead-lettered, never handed to a handler): a worker must not delete on a guess', () => {
  const snapshotFields = (data: unknown): string[] => ['type', 'snapshot', 'data', JSON.stringify(data), 'seq', '1']
  const partFields = (data: unknown): string[] => ['type', 'commit', 'data', JSON.stringify(data), 'seq', '1']
  const part = { repo: did, ops: [], rev: 'r', commit: 'c', time: TIME, snapshot: { id: 'i', part: 0 } }
  it.each([
    [snapshotFields({ did, id: 'i', rev: 'r' }), 'snapshot data has no valid `phase` (begin or end)'],
    [snapshotFields({ did, id: 'i', rev: 'r', phase: 'records' }), 'snapshot data has no valid `phase` (begin or end)'],
    [snapshotFields({ id: 'i', rev: 'r', phase: 'begin' }), 'snapshot data has no valid `did`'],
    [snapshotFields({ did, rev: 'r', phase: 'begin' }), 'snapshot data has no valid `id`'],
    [snapshotFields({ did, id: 'i', rev: 'r', phase: 'end', records: 0, parts: 0 }), 'snapshot data has no boolean `complete`'],
    [partFields({ ...part, snapshot: { id: 'i' } }), 'snapshot part (commit) data has no valid `snapshot` {id, part}'],
    [partFields({ ...part, snapshot: { id: 'i', part: -1 } }), 'snapshot part (commit) data has no valid `snapshot` {id, part}'],
    [partFields({ ...part, snapshot: null }), 'snapshot part (commit) data has no valid `snapshot` {id, part}'],
    [partFields({ ...part, ops: undefined }), 'snapshot part (commit) data has no valid `ops`'],
  ])('%j: %s', (fields, reason) => {
    expect(parseEntry('1-0', fields, 1)).toEqual({ kind: 'malformed', reason })
  })

  it('a FirehoseConsumer dead-letters them and hands the handler the good ones only', async () => {
    const stream = streamKey('snapshot-malformed')
    await own.client.xadd(stream, '*', ...snapshotFields({ did, id: 'i', rev: 'r', phase: 'middle' }))
    await addEntries(own.client, stream, [snapshotBeginEntry(head, 1, TIME)])
    await own.client.xadd(stream, '*', ...partFields({ ...part, snapshot: { part: 0 } }))
    const { events, worker } = await consumeAll(stream, 1)
    await waitUntil(() => worker.stats.malformed === 2, { what: '2 malformed', timeoutMs: 10_000 })
    expect(events.map((event) => event.type)).toEqual(['snapshot'])
    expect((await deadLetters(own.client, `${stream}:dead-consumer`)).map((dead) => dead.map['dead-reason'])).toEqual(['malformed', 'malformed'])
  })
})

import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { pollUntil } from '../../common/wait.js'
import { CrashPoints } from '../../ingestor/crash-points.js'
import * as dagCbor from '@ipld/dag-cbor'
import type { RepoWrite, RepoWriteContext, RepoWriteFields, RepoWriter } from '../../ingestor/repo-write.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import { BACKFILL_COUNTERS, backfillMarkerField } from '../../repo-sync/backfill-fields.js'
import type { FetchedRepo, RepoRecord } from '../../repo-sync/fetch-types.js'
import { ResyncQueue, DEFAULT_RESYNC_QUEUE } from '../../ingestor/resync-queue.js'
import { ResyncWorker } from '../../ingestor/resync-worker.js'
import { emptyCounters } from '../../ingestor/status.js'
import { EventFilter } from '../../ingestor/event-filter.js'
import { RepoSyncError, RepoSyncErrorCode } from '../../repo-sync/errors.js'
import type { RepoState } from '../../repo-sync/types.js'
import { FakeTimers } from '../support/fake-timers.js'

/** A writer that applies each repo write to a map of states, as the pipeline would to Redis. */
class StatesWriter implements RepoWriter {
  constructor(readonly states: Map<string, RepoState>) {}

  async writeRepo(did: string, build: (context: RepoWriteContext) => RepoWrite | null): Promise<'applied' | 'skipped'> {
    const state = this.states.get(did) ?? null
    const write = build({ repo: { raw: null, state }, progress: null, seq: 0, fields: new Map() })
    if (write === null) return 'skipped'
    if (write.state !== undefined) this.states.set(did, write.state)
    return 'applied'
  }
}

describe('repos whose fetch failed wait out their backoff with a timer each, bounded: past the bound they are found by one sweep instead (their state says desynchronized)', () => {
  it('4 failing repos, at most 2 timers for repos: 2 repo timers and 1 sweep timer', async () => {
    const dids = ['did:plc:a', 'did:plc:b', 'did:plc:c', 'did:plc:d']
    const states = new Map(dids.map((did): [string, RepoState] => [did, { rev: '', data: '', status: 'active', sync: 'desynchronized' }]))
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const queue = new ResyncQueue(DEFAULT_RESYNC_QUEUE)
    const worker = new ResyncWorker({
      queue,
      writer: new StatesWriter(states),
      fetcher: { fetchRepo: async (did) => Promise.reject(new RepoSyncError(RepoSyncErrorCode.Unreachable, `${did}: connection refused`, { did })) },
      retryAtMs: () => null,
      sweep: async () => undefined,
      fetchOptions: {},
      concurrency: 1,
      maxScheduledRetries: 2,
      filter: null,
      counters,
      logger: silentLogger,
      timers,
      crash: new CrashPoints(null),
    })
    worker.start()
    for (const did of dids) queue.request(did)
    expect(await pollUntil(() => counters.resyncsFailed === 4, { timeoutMs: 5_000, intervalMs: 5 })).toBe(true)
    expect(worker.retriesScheduled).toBe(3)
    expect(timers.pendingCount).toBe(3)
    // Each repo went back to desynchronized, for a sweep (or its timer) to find.
    expect([...states.values()].every((state) => state.sync === 'desynchronized')).toBe(true)
    await worker.stop()
    expect(timers.pendingCount).toBe(0)
  })
})

/** The pipeline's repo writes over in-memory states and snapshot progress hash fields, compare-and-set as the write script does. */
class HashesWriter implements RepoWriter {
  readonly entries: StreamEntry[] = []
  constructor(
    readonly states: Map<string, RepoState>,
    readonly fields: Map<string, string>,
  ) {}

  async writeRepo(did: string, build: (context: RepoWriteContext) => RepoWrite | null, asked: RepoWriteFields = {}): Promise<'applied' | 'skipped'> {
    const named = new Map<string, string | null>((asked.named?.() ?? []).map((field) => [field, this.fields.get(field) ?? null]))
    const write = build({ repo: { raw: null, state: this.states.get(did) ?? null }, progress: this.fields.get(did) ?? null, seq: 0, fields: named })
    if (write === null) return 'skipped'
    for (const { field, expected } of write.fieldUpdates ?? []) expect(this.fields.get(field) ?? '', `${field} compare-and-set`).toBe(expected)
    for (const { field, next } of write.fieldUpdates ?? [])
      if (next === '') this.fields.delete(field)
      else this.fields.set(field, next)
    if (write.state !== undefined) this.states.set(did, write.state)
    if (write.progress !== undefined)
      if (write.progress === null) this.fields.delete(did)
      else this.fields.set(did, write.progress)
    this.entries.push(...write.entries)
    return 'applied'
  }
}

const TID = '3lqmwr3elwzcp'
const ROOT = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'

/** A fetched repo of `count` records (DAG-CBOR posts), as repo-fetcher.ts hands it over. */
function fetchedRepo(did: string, count: number): FetchedRepo {
  const records = Array.from({ length: count }, (_, i): RepoRecord => ({
    collection: 'app.bsky.feed.post',
    rkey: `r${i}`,
    cid: ROOT,
    bytes: dagCbor.encode({ $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: '2025-01-01T00:00:00.000Z' }),
  }))
  return {
    did,
    commitCid: ROOT,
    rev: TID,
    data: ROOT,
    stats: { url: 'http://pds.invalid', bytes: 0, blocks: 0, nodes: 0, records: count, spilledBytes: 0, heldBytes: 0, verified: false },
    records: async function* () {
      yield* records
    },
    close: async () => undefined,
  }
}

function backfillWorker(writer: HashesWriter, fetchRepo: (did: string) => Promise<FetchedRepo>, filter: Pick<EventFilter, 'keepsPath'> | null = null) {
  const queue = new ResyncQueue(DEFAULT_RESYNC_QUEUE)
  const counters = emptyCounters()
  const worker = new ResyncWorker({
    queue,
    writer,
    fetcher: { fetchRepo },
    retryAtMs: () => null,
    sweep: async () => undefined,
    fetchOptions: {},
    concurrency: 1,
    filter,
    counters,
    logger: silentLogger,
    timers: new FakeTimers(),
    crash: new CrashPoints(null),
  })
  return { queue, counters, worker }
}

describe("backfill: a repo with a marker is fetched from any state (none here), and the write that ends its snapshot deletes the marker and moves the shard's counters (docs/backfill.md)", () => {
  const did = 'did:plc:backfilled'

  it('a repo never seen: a whole snapshot, the marker gone, done 1, records 3', async () => {
    const writer = new HashesWriter(new Map(), new Map([[backfillMarkerField(did), 'queued']]))
    const { queue, counters, worker } = backfillWorker(writer, async () => fetchedRepo(did, 3))
    worker.start()
    queue.request(did)
    expect(await pollUntil(() => counters.backfillReposDone === 1, { timeoutMs: 5_000, intervalMs: 2 })).toBe(true)
    await worker.stop()
    expect(writer.entries.map((entry) => entry.type)).toEqual(['snapshot', 'commit', 'snapshot'])
    expect(Object.fromEntries(writer.fields)).toEqual({ [BACKFILL_COUNTERS.done]: '1', [BACKFILL_COUNTERS.records]: '3' })
    expect(writer.states.get(did)).toEqual({ rev: TID, data: ROOT, status: 'active', sync: 'synchronized', whole: true })
    expect(counters.backfillRecords).toBe(3)
  })

  it("a failed fetch: the marker says why and the repo counts as failing; getRepo's RepoDeactivated stores the account's status (its reactivation resyncs it); the next success undoes both", async () => {
    const writer = new HashesWriter(new Map(), new Map([[backfillMarkerField(did), 'queued']]))
    let fail = true
    const { queue, counters, worker } = backfillWorker(writer, async () => {
      if (fail) throw new RepoSyncError(RepoSyncErrorCode.Deactivated, 'pds answered 400 RepoDeactivated', { did })
      return fetchedRepo(did, 1)
    })
    worker.start()
    queue.request(did)
    expect(await pollUntil(() => counters.resyncsFailed === 1, { timeoutMs: 5_000, intervalMs: 2 })).toBe(true)
    expect(JSON.parse(writer.fields.get(backfillMarkerField(did))!)).toMatchObject({ code: 'REPO_SYNC_DEACTIVATED', attempts: 1 })
    expect(writer.fields.get(BACKFILL_COUNTERS.failing)).toBe('1')
    expect(writer.states.get(did)).toMatchObject({ sync: 'desynchronized', status: 'deactivated' })
    fail = false
    writer.states.set(did, { ...writer.states.get(did)!, status: 'active' }) // the #account that reactivates it
    queue.request(did)
    expect(await pollUntil(() => counters.backfillReposDone === 1, { timeoutMs: 5_000, intervalMs: 2 })).toBe(true)
    await worker.stop()
    expect(Object.fromEntries(writer.fields)).toEqual({ [BACKFILL_COUNTERS.done]: '1', [BACKFILL_COUNTERS.records]: '1', [BACKFILL_COUNTERS.failing]: '0' })
  })

  it('with --collections, the snapshot holds only the records of those collections (as the live path publishes)', async () => {
    const writer = new HashesWriter(new Map(), new Map([[backfillMarkerField(did), 'queued']]))
    const { queue, counters, worker } = backfillWorker(writer, async () => fetchedRepo(did, 3), new EventFilter({ collections: ['app.bsky.feed.like'], types: null }))
    worker.start()
    queue.request(did)
    expect(await pollUntil(() => counters.backfillReposDone === 1, { timeoutMs: 5_000, intervalMs: 2 })).toBe(true)
    await worker.stop()
    expect(writer.entries.map((entry) => entry.type)).toEqual(['snapshot', 'snapshot'])
    expect(writer.fields.get(BACKFILL_COUNTERS.records)).toBe('0')
  })

  it('a marker written while a plain resync was fetching: an unchanged snapshot (nothing published) leaves it for the next attempt, which publishes the repo whole', async () => {
    const writer = new HashesWriter(new Map([[did, { rev: TID, data: ROOT, status: 'active', sync: 'desynchronized' }]]), new Map())
    const { queue, counters, worker } = backfillWorker(writer, async () => {
      writer.fields.set(backfillMarkerField(did), 'queued') // the listing, between the resync's first step and its end
      return fetchedRepo(did, 2)
    })
    worker.start()
    queue.request(did)
    expect(await pollUntil(() => counters.resyncsSucceeded === 1, { timeoutMs: 5_000, intervalMs: 2 })).toBe(true)
    expect(writer.entries).toEqual([])
    expect(writer.fields.get(backfillMarkerField(did))).toBe('queued')
    queue.request(did) // the feed's next pass
    expect(await pollUntil(() => counters.backfillReposDone === 1, { timeoutMs: 5_000, intervalMs: 2 })).toBe(true)
    await worker.stop()
    expect(writer.entries.map((entry) => entry.type)).toEqual(['snapshot', 'commit', 'snapshot'])
    expect(writer.fields.has(backfillMarkerField(did))).toBe(false)
  })

  it('a repo the stream already holds whole (its chain began at a snapshot): the backfill ends without a fetch, nothing published twice', async () => {
    const writer = new HashesWriter(new Map([[did, { rev: TID, data: ROOT, status: 'active', sync: 'synchronized', whole: true }]]), new Map([[backfillMarkerField(did), 'queued']]))
    const fetches: string[] = []
    const { queue, counters, worker } = backfillWorker(writer, async (asked) => (fetches.push(asked), fetchedRepo(asked, 1)))
    worker.start()
    queue.request(did)
    expect(await pollUntil(() => counters.backfillReposDone === 1, { timeoutMs: 5_000, intervalMs: 2 })).toBe(true)
    await worker.stop()
    expect(fetches).toEqual([])
    expect(writer.entries).toEqual([])
    expect(Object.fromEntries(writer.fields)).toEqual({ [BACKFILL_COUNTERS.done]: '1', [BACKFILL_COUNTERS.records]: '0' })
  })

  it('without a marker, a synchronized repo is not resynced (a stray request changes nothing)', async () => {
    const writer = new HashesWriter(new Map([[did, { rev: TID, data: ROOT, status: 'active', sync: 'synchronized' }]]), new Map())
    const fetches: string[] = []
    const { queue, worker } = backfillWorker(writer, async (asked) => (fetches.push(asked), fetchedRepo(asked, 1)))
    worker.start()
    queue.request(did)
    expect(await pollUntil(() => queue.pendingCount === 0 && worker.active === 0, { timeoutMs: 5_000, intervalMs: 2 })).toBe(true)
    await worker.stop()
    expect(fetches).toEqual([])
    expect(writer.entries).toEqual([])
  })
})

import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { backfillInactiveKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { colocatedKey, keyLayout, shardStream } from '../../common/key-layout.js'
import { silentLogger } from '../../common/logger.js'
import { SeededRandom } from '../../common/random.js'
import { systemTimers } from '../../common/timers.js'
import { BackfillStore, type StoredListing } from '../../backfill/backfill-store.js'
import { BackfillError, BackfillErrorCode } from '../../backfill/errors.js'
import { RepoLister } from '../../backfill/repo-lister.js'
import { runBackfill, type BackfillRunParts } from '../../backfill/run-backfill.js'
import type { BackfillSelection, ListingPosition } from '../../backfill/selection.js'
import { waitUntil } from '../../harness/wait.js'
import { ACTIVATE_INACTIVE } from '../../ingestor/backfill-activate.js'
import { runLuaScript } from '../../ingestor/lua-script.js'
import { shardOfDid } from '../../protocol/shard.js'
import { BACKFILL_COUNTERS, backfillMarkerField, BACKFILL_QUEUED, type BackfillFailure } from '../../repo-sync/backfill-fields.js'
import { ownRedisForSuite, uniqueKeys } from '../ingestor/helpers.js'

/**
 * BackfillStore on a real redis-server (the lister's side of docs/backfill.md "What is stored"),
 * and runBackfill killed part-way through a listing, then run again: each repo asked for once.
 * The ingestor's side (a snapshot's end, a failure, a reactivation) is played by hand on the same
 * fields where a test needs it, except the reactivation, which runs the ingestor's own script.
 */
const own = ownRedisForSuite()

/** A stream's keys, a store on them, and the shard hashes the store writes. */
function keysOf(shards: number) {
  const stream = uniqueKeys('test:backfill-store').stream
  const layout = keyLayout(shards, false)
  const hash = (shard: number): string => colocatedKey(layout, snapshotProgressKeyOf(stream), shardStream(layout, stream, shard))
  const inactiveHash = (shard: number): string => colocatedKey(layout, backfillInactiveKeyOf(stream), shardStream(layout, stream, shard))
  return { stream, layout, store: new BackfillStore(own.admin, layout, stream), hash, inactiveHash }
}

/** `n` seeded did:plc DIDs, distinct. */
function didsOf(random: SeededRandom, n: number): string[] {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  const dids = new Set<string>()
  while (dids.size < n) dids.add(`did:plc:${Array.from({ length: 24 }, () => alphabet[random.int(0, 31)]).join('')}`)
  return [...dids]
}

/** Every backfill marker of the shards: DID -> value. */
async function markers(hashes: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const key of hashes) for (const [field, value] of Object.entries(await own.admin.hgetall(key))) if (field.endsWith('#backfill')) out.set(field.slice(0, -'#backfill'.length), value)
  return out
}

describe('enqueue: one page of one shard, atomically', () => {
  it('marks active repos queued and puts inactive ones in the inactive hash with their status; listed and inactive count both', async () => {
    const { store, hash, inactiveHash } = keysOf(1)
    const [a, b, c, d] = didsOf(new SeededRandom(1), 4)
    expect(await store.enqueue(0, 'L:0', [a!, b!, c!], [{ did: d!, status: 'takendown' }])).toBe(4)
    expect(await markers([hash(0)])).toEqual(new Map([a!, b!, c!].map((did) => [did, BACKFILL_QUEUED])))
    expect(await own.admin.hgetall(inactiveHash(0))).toEqual({ [d!]: 'takendown' })
    expect(await store.counts()).toEqual({ listed: 4, inactive: 1, done: 0, failing: 0, reactivated: 0, records: 0 })
    expect(await store.inactive(10)).toEqual({ repos: [{ did: d!, status: 'takendown' }], total: 1 })
  })

  it('the same page again (the lister died before saving its position) changes nothing, whatever it holds', async () => {
    const { store, hash, inactiveHash } = keysOf(1)
    const dids = didsOf(new SeededRandom(2), 6)
    expect(await store.enqueue(0, 'L:0', dids.slice(0, 3), [{ did: dids[3]!, status: 'deactivated' }])).toBe(4)
    const before = [await own.admin.hgetall(hash(0)), await own.admin.hgetall(inactiveHash(0))]
    expect(await store.enqueue(0, 'L:0', dids.slice(0, 5), [{ did: dids[5]!, status: 'suspended' }])).toBe(-1)
    expect([await own.admin.hgetall(hash(0)), await own.admin.hgetall(inactiveHash(0))]).toEqual(before)
  })

  it('a repo already asked for (marked, or in the inactive hash) is not counted again by a later page, active or not', async () => {
    const { store, hash, inactiveHash } = keysOf(1)
    const [a, b, c, d, e] = didsOf(new SeededRandom(3), 5)
    expect(await store.enqueue(0, 'L:0', [a!, b!], [{ did: c!, status: 'takendown' }])).toBe(3)
    // a again, c now active, b now inactive, d and e new.
    expect(
      await store.enqueue(
        0,
        'L:1',
        [a!, c!, d!],
        [
          { did: b!, status: 'deactivated' },
          { did: e!, status: 'suspended' },
        ],
      ),
    ).toBe(2)
    expect(await markers([hash(0)])).toEqual(new Map([a!, b!, d!].map((did) => [did, BACKFILL_QUEUED])))
    expect(await own.admin.hgetall(inactiveHash(0))).toEqual({ [c!]: 'takendown', [e!]: 'suspended' })
    expect(await store.counts()).toMatchObject({ listed: 5, inactive: 2 })
  })

  it('two listers taking the same page at once (two connections): one marks it, the other gets -1', async () => {
    const { store, stream, layout } = keysOf(1)
    const other = new Redis(own.redis.url)
    try {
      const twin = new BackfillStore(other, layout, stream)
      const dids = didsOf(new SeededRandom(4), 200)
      const inactive = dids.slice(150).map((did) => ({ did, status: 'deactivated' }))
      const results = await Promise.all([store.enqueue(0, 'L:7', dids.slice(0, 150), inactive), twin.enqueue(0, 'L:7', dids.slice(0, 150), inactive)])
      expect(results.sort((x, y) => x - y)).toEqual([-1, 200])
      expect(await store.counts()).toMatchObject({ listed: 200, inactive: 50 })
    } finally {
      other.disconnect()
    }
  })

  it('each shard notes its own page: a page taken by one shard is still taken by another', async () => {
    const { store } = keysOf(2)
    const [a, b] = didsOf(new SeededRandom(5), 2)
    expect(await store.enqueue(0, 'L:0', [a!])).toBe(1)
    expect(await store.enqueue(1, 'L:0', [b!])).toBe(1)
    expect(await store.enqueue(1, 'L:0', [b!])).toBe(-1)
    expect(await store.counts()).toMatchObject({ listed: 2 })
  })
})

describe('counts, failing, inactive: read across the shards', () => {
  it("counts() sums every shard's counters, the lister's and the ingestor's", async () => {
    const { store, hash } = keysOf(3)
    const dids = didsOf(new SeededRandom(6), 30)
    for (let shard = 0; shard < 3; shard++) {
      const mine = dids.filter((did) => shardOfDid(did, 3) === shard)
      await store.enqueue(shard, 'L:0', mine.slice(1), [{ did: mine[0]!, status: 'takendown' }])
      // The ingestor's counters, as its writes move them.
      await own.admin.hset(hash(shard), BACKFILL_COUNTERS.done, shard + 1, BACKFILL_COUNTERS.failing, 1, BACKFILL_COUNTERS.records, 100 * (shard + 1), BACKFILL_COUNTERS.reactivated, shard)
    }
    expect(await store.counts()).toEqual({ listed: 30, inactive: 3, done: 6, failing: 3, reactivated: 3, records: 600 })
  })

  it('failing(limit): the failure markers of every shard with their reasons, at most limit of them, and how many there are', async () => {
    const { store, hash } = keysOf(3)
    const dids = didsOf(new SeededRandom(7), 12)
    const failures = new Map<string, BackfillFailure>()
    for (const [i, did] of dids.entries()) {
      const shard = shardOfDid(did, 3)
      await store.enqueue(shard, `L:${i}`, [did])
      // Every other repo failed, once or more (the ingestor's failure write).
      if (i % 2 === 0) {
        const failure = { code: i % 4 === 0 ? 'REPO_SYNC_NOT_FOUND' : 'REPO_SYNC_HTTP_STATUS', message: `repo ${i} failed`, attempts: 1 + (i % 3), atMs: Date.UTC(2025, 5, 1) + i }
        failures.set(did, failure)
        await own.admin.hset(hash(shard), backfillMarkerField(did), JSON.stringify(failure))
      }
    }
    // A value no writer of this code writes is not a failure.
    await own.admin.hset(hash(0), backfillMarkerField('did:plc:garbagegarbagegarbage00'), '{"code": 1}')
    const all = await store.failing(100)
    expect(all.total).toBe(6)
    expect(new Map(all.repos.map(({ did, ...failure }) => [did, failure]))).toEqual(failures)
    const some = await store.failing(2)
    expect(some.total).toBe(6)
    expect(some.repos).toHaveLength(2)
    for (const repo of some.repos) expect(failures.get(repo.did)).toEqual({ code: repo.code, message: repo.message, attempts: repo.attempts, atMs: repo.atMs })
  })

  it('inactive(limit): the repos listed as inactive of every shard with the status listed, at most limit, and how many', async () => {
    const { store } = keysOf(3)
    const dids = didsOf(new SeededRandom(8), 9)
    for (const [i, did] of dids.entries()) await store.enqueue(shardOfDid(did, 3), `L:${i}`, [], [{ did, status: i % 2 === 0 ? 'deactivated' : 'takendown' }])
    const all = await store.inactive(100)
    expect(all.total).toBe(9)
    expect(new Map(all.repos.map(({ did, status }) => [did, status]))).toEqual(new Map(dids.map((did, i) => [did, i % 2 === 0 ? 'deactivated' : 'takendown'])))
    const some = await store.inactive(4)
    expect(some).toMatchObject({ total: 9 })
    expect(some.repos).toHaveLength(4)
  })
})

describe('reset (--restart): counters restart from what is still asked for', () => {
  it('listed = markers left + inactive left, inactive = inactive left, done/reactivated/records 0, failing kept; a new listing asks again only for the repos done', async () => {
    const { store, hash, inactiveHash, stream, layout } = keysOf(1)
    const dids = didsOf(new SeededRandom(9), 10)
    const [active, inactive] = [dids.slice(0, 7), dids.slice(7)]
    await store.writeListing({ id: 'old', selection: 'all', position: { part: 0, cursor: '10' }, complete: true, pages: 1, startedAtMs: 0 })
    expect(
      await store.enqueue(
        0,
        'old:0',
        active,
        inactive.map((did) => ({ did, status: 'deactivated' })),
      ),
    ).toBe(10)
    // The ingestor: four active repos done, one failing, one inactive account active again (its script) and then done.
    const end = async (did: string, records: number): Promise<void> => {
      await own.admin.hdel(hash(0), backfillMarkerField(did))
      await own.admin.hincrby(hash(0), BACKFILL_COUNTERS.done, 1)
      await own.admin.hincrby(hash(0), BACKFILL_COUNTERS.records, records)
    }
    for (const did of active.slice(0, 4)) await end(did, 10)
    await own.admin.hset(hash(0), backfillMarkerField(active[4]!), JSON.stringify({ code: 'REPO_SYNC_HTTP_STATUS', message: '500', attempts: 2, atMs: 1 }), BACKFILL_COUNTERS.failing, 1)
    expect(await runLuaScript(own.admin, ACTIVATE_INACTIVE, 2, [hash(0), inactiveHash(0), inactive[0]!])).toEqual([inactive[0]])
    await end(inactive[0]!, 3)
    expect(await store.counts()).toEqual({ listed: 10, inactive: 3, done: 5, failing: 1, reactivated: 1, records: 43 })

    await store.reset()
    const left = await markers([hash(0)])
    const inactiveLeft = await own.admin.hlen(inactiveHash(0))
    expect([...left.keys()].sort()).toEqual(active.slice(4).sort())
    expect(inactiveLeft).toBe(2)
    expect(await store.counts()).toEqual({ listed: left.size + inactiveLeft, inactive: inactiveLeft, done: 0, failing: 1, reactivated: 0, records: 0 })
    expect(await store.readListing()).toBeNull()
    expect(await own.admin.hget(hash(0), BACKFILL_COUNTERS.page)).toBeNull()

    // The same repos listed again (all active now): only the five done are asked for again.
    const final = await runBackfill(runParts(new BackfillStore(own.admin, layout, stream), { kind: 'dids', dids }, { restart: true }))
    expect(final).toMatchObject({ listed: 10, inactive: 2, done: 0, failing: 1, listingComplete: true })
    expect((await markers([hash(0)])).size).toBe(8)
  })
})

/** runBackfill without an ingestor: the listing only (no wait). */
function runParts(store: BackfillStore, selection: BackfillSelection, extra: Partial<BackfillRunParts> = {}): BackfillRunParts {
  return {
    store,
    lister: new RepoLister({ get: () => Promise.reject(new Error('a DID list asks no server')) }, selection, null, { pageSize: 7 }),
    selection,
    restart: false,
    wait: false,
    maxOutstanding: 10_000,
    pollMs: 20,
    backoff: { initialMs: 10, maxMs: 50 },
    timers: systemTimers,
    logger: silentLogger,
    ...extra,
  }
}

/** Records the positions a lister is asked at. */
function watched(lister: BackfillRunParts['lister']): { lister: BackfillRunParts['lister']; asked: ListingPosition[] } {
  const asked: ListingPosition[] = []
  return { asked, lister: { page: (at, signal) => (asked.push(at), lister.page(at, signal)) } }
}

/** A store that never answers once `dies` says so: the process died there (its run is left pending, as a killed process leaves its work). */
class DyingStore extends BackfillStore {
  constructor(
    base: ReturnType<typeof keysOf>,
    private readonly dies: { enqueue?: (shard: number, pageId: string) => boolean; writeListing?: (listing: StoredListing) => boolean },
  ) {
    super(own.admin, base.layout, base.stream)
  }

  override enqueue(...args: Parameters<BackfillStore['enqueue']>): Promise<number> {
    return this.dies.enqueue?.(args[0], args[1]) === true ? new Promise(() => {}) : super.enqueue(...args)
  }

  override writeListing(listing: StoredListing): Promise<void> {
    return this.dies.writeListing?.(listing) === true ? new Promise(() => {}) : super.writeListing(listing)
  }
}

describe('runBackfill stopped or killed part-way, then run again: the listing continues where it stood, each repo asked for once', () => {
  const SHARDS = 3
  const N = 50
  const PAGES = Math.ceil(N / 7)

  /** Run again to the end: it starts from the stored position; every DID marked once; listed = N. */
  async function resumeAndCheck(keys: ReturnType<typeof keysOf>, dids: string[], resumeAt: ListingPosition, what: string): Promise<void> {
    const selection: BackfillSelection = { kind: 'dids', dids }
    const { lister, asked } = watched(runParts(keys.store, selection).lister)
    const final = await runBackfill(runParts(keys.store, selection, { lister }))
    expect(asked[0], what).toEqual(resumeAt)
    expect(final, what).toMatchObject({ listed: N, listingComplete: true, pages: PAGES })
    const marked = await markers(Array.from({ length: SHARDS }, (_, shard) => keys.hash(shard)))
    expect([...marked.keys()].sort(), what).toEqual([...dids].sort())
    expect(await keys.store.readListing(), what).toMatchObject({ complete: true, pages: PAGES, position: { part: 0, cursor: String(7 * (PAGES - 1)) } })
  }

  for (const seed of [11, 12, 13]) {
    it(`stopped after k pages (seed ${seed})`, async () => {
      const random = new SeededRandom(seed)
      const keys = keysOf(SHARDS)
      const dids = didsOf(random, N)
      const k = random.int(1, PAGES - 1)
      const selection: BackfillSelection = { kind: 'dids', dids }
      const { lister, asked } = watched(runParts(keys.store, selection).lister)
      const first = await runBackfill(runParts(keys.store, selection, { lister, stopped: () => asked.length >= k }))
      const what = `seed ${seed}, stopped after ${k} pages`
      expect(first, what).toMatchObject({ listed: 7 * k, listingComplete: false, pages: k })
      expect(await keys.store.readListing(), what).toMatchObject({ complete: false, pages: k, position: { part: 0, cursor: String(7 * k) } })
      await resumeAndCheck(keys, dids, { part: 0, cursor: String(7 * k) }, what)
    })

    it(`killed after marking page k, before saving its position; and killed between two shards of a page (seed ${seed})`, async () => {
      const random = new SeededRandom(seed)
      const dids = didsOf(random, N)
      const k = random.int(1, PAGES - 1)
      const selection: BackfillSelection = { kind: 'dids', dids }

      // Every shard of page k marked, the position not saved: the page is taken again, with the same page id.
      const afterMarking = keysOf(SHARDS)
      void runBackfill(runParts(new DyingStore(afterMarking, { writeListing: (listing) => listing.pages > k }), selection))
      await waitUntil(async () => (await afterMarking.store.counts()).listed === 7 * (k + 1), { what: `seed ${seed}: page ${k} marked`, timeoutMs: 10_000 })
      expect(await afterMarking.store.readListing()).toMatchObject({ pages: k })
      await resumeAndCheck(afterMarking, dids, { part: 0, cursor: String(7 * k) }, `seed ${seed}, killed after marking page ${k}`)

      // One shard of page k marked, the process dies before the next: the shards not marked take the page.
      const betweenShards = keysOf(SHARDS)
      let marked = 0
      void runBackfill(runParts(new DyingStore(betweenShards, { enqueue: (_shard, pageId) => pageId.endsWith(`:${k}`) && marked++ >= 1 }), selection))
      await waitUntil(() => marked >= 2, { what: `seed ${seed}: page ${k} part-marked`, timeoutMs: 10_000 })
      expect((await betweenShards.store.counts()).listed).toBeLessThan(7 * (k + 1))
      await resumeAndCheck(betweenShards, dids, { part: 0, cursor: String(7 * k) }, `seed ${seed}, killed between two shards of page ${k}`)
    })
  }

  it('another selection on the same keys is refused (BACKFILL_OTHER_SELECTION, naming the stored one) unless restart', async () => {
    const keys = keysOf(SHARDS)
    const dids = didsOf(new SeededRandom(14), N)
    const stored = await runBackfill(runParts(keys.store, { kind: 'dids', dids: dids.slice(0, 20) }, { stopped: () => true }))
    expect(stored).toMatchObject({ listed: 0, pages: 0 })
    const storedId = (await keys.store.readListing())!.selection
    const other: BackfillSelection = { kind: 'dids', dids }
    const err = await runBackfill(runParts(keys.store, other)).catch((e: unknown) => e as BackfillError)
    expect(err).toBeInstanceOf(BackfillError)
    expect(err).toMatchObject({ code: BackfillErrorCode.OtherSelection, fields: { stored: storedId } })
    expect(await keys.store.counts()).toMatchObject({ listed: 0 })
    const restarted = await runBackfill(runParts(keys.store, other, { restart: true }))
    expect(restarted).toMatchObject({ listed: N, listingComplete: true })
    expect((await keys.store.readListing())!.selection).not.toBe(storedId)
  })
})

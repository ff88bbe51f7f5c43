import { lexToJson } from '@atproto/lexicon'
import { cborToLexRecord } from '@atproto/repo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyLayout } from '../../common/key-layout.js'
import { BackfillStore } from '../../backfill/backfill-store.js'
import { parseEntry, type SnapshotData } from '../../consumer/events.js'
import { waitUntil } from '../../harness/wait.js'
import { decodeEvent } from '../../protocol/events.js'
import type { SnapshotBeginData, SnapshotEndData } from '../../protocol/snapshot-entry.js'
import type { ReplayHandle } from '../../replay/index.js'
import { RepoSyncErrorCode } from '../../repo-sync/errors.js'
import { groundTruth } from '../../stream-check/ground-truth.js'
import { diffRepos, type ModelRecord, type Repos } from '../../stream-check/model-appview.js'
import { generate, tempDir, type Generated } from '../generator/helpers.js'
import { ownRedisForSuite, readStream, replay } from '../ingestor/helpers.js'
import { modelOf, settle, startRepoStateIngestor, type RepoStateRun } from '../ingestor/repo-state-rig.js'
import { didKeyOf, truthAfter, verifiedRecords } from '../replay/repo-truth.js'
import { REAL_CARS, referenceRecords } from '../repo-sync/fetch-fixtures.js'
import { CarPds } from '../support/car-pds.js'
import { backfillRun } from './backfill-rig.js'

/**
 * Backfill of real repositories (test/data/real/repo-cars, one a full production repo) served by
 * car-pds, a PDS of CAR files: a real ingestor (per-repo state, getRepo from car-pds) beside a
 * replay relay, a real listing. Each repo ends as one complete snapshot whose records are what
 * @atproto/repo reads from the same CAR (its CAR reader and MST walk, records as
 * @atproto/lexicon's JSON), and the model AppView over the stream equals that truth. The v2 export
 * is refused (NOT_COMMIT: no live PDS serves one) and stays failing with that reason.
 */
const SEED = 2525
const own = ownRedisForSuite()
let tmp: Awaited<ReturnType<typeof tempDir>>
let generated: Generated
let frames: Uint8Array[]
/** The v3 real repos as @atproto/repo reads them: DID -> rev, record count, records as the AppView holds them. */
const realTruth = new Map<string, { rev: string; records: Map<string, ModelRecord> }>()
const V3 = [REAL_CARS.bnewbold, REAL_CARS.greenground]
const V2 = REAL_CARS.paulStagingV2

beforeAll(async () => {
  tmp = await tempDir()
  generated = await generate(tmp.dir, 'real-cars.fixture.gz', { events: 400, accounts: 30, medianRecords: 4, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
  for (const { did, car } of V3) {
    const reference = await referenceRecords(car)
    realTruth.set(did, { rev: reference.rev, records: new Map(reference.records.map((r) => [`${r.collection}/${r.rkey}`, { cid: r.cid, record: lexToJson(cborToLexRecord(r.bytes)) }])) })
  }
}, 120_000)
afterAll(async () => {
  await tmp?.cleanup()
})

function lastSeq(): number {
  const last = decodeEvent(frames[frames.length - 1]!)
  return 'seq' in last && typeof last.seq === 'number' ? last.seq : Number.NaN
}

/** The snapshots each DID's entries in the stream hold: begins and ends (parts are checked by the model). */
async function snapshotsOf(stream: string): Promise<Map<string, { begins: SnapshotBeginData[]; ends: SnapshotEndData[] }>> {
  const out = new Map<string, { begins: SnapshotBeginData[]; ends: SnapshotEndData[] }>()
  for (const fields of await readStream(own.redis.url, stream)) {
    const parsed = parseEntry('read', fields, 1)
    if (parsed.kind !== 'event' || parsed.event.type !== 'snapshot') continue
    const data: SnapshotData = parsed.event.data
    if (data.phase === 'records') continue
    const entry = out.get(data.did) ?? { begins: [], ends: [] }
    out.set(data.did, entry)
    if (data.phase === 'begin') entry.begins.push(data)
    else entry.ends.push(data)
  }
  return out
}

/** The real repos as the AppView must hold them, beside `others`. */
function withRealTruth(others: Repos): Repos {
  return new Map([...others, ...[...realTruth].map(([did, { records }]): [string, Map<string, ModelRecord>] => [did, records])])
}

/** Every listed repo ended: the v3 ones done, the v2 one failing with NOT_COMMIT naming its version. */
async function expectEnded(store: BackfillStore, listed: number, what: string): Promise<void> {
  await waitUntil(
    async () => {
      const counts = await store.counts()
      return counts.listed === listed && counts.done === listed - 1 && counts.failing === 1
    },
    { what: `${what}: every repo done but the v2 one`, timeoutMs: 60_000 },
  )
  const failing = await store.failing(10)
  expect(failing.total, what).toBe(1)
  expect(failing.repos[0], what).toMatchObject({ did: V2.did, code: RepoSyncErrorCode.NotCommit })
  expect(failing.repos[0]!.message, what).toMatch(/version 2/)
}

/** Each DID of `expected` (DID -> rev, records) in one complete snapshot, and no other snapshot in the stream. */
async function expectOneSnapshotEach(stream: string, expected: Map<string, { rev: string; records: number }>, what: string): Promise<void> {
  const snapshots = await snapshotsOf(stream)
  expect([...snapshots.keys()].sort(), `${what}: DIDs with a snapshot`).toEqual([...expected.keys()].sort())
  for (const [did, { rev, records }] of expected) {
    const { begins, ends } = snapshots.get(did)!
    expect(begins.length, `${what}: ${did}`).toBe(1)
    expect(
      ends.map(({ id, rev: endRev, records: n, complete }) => ({ id, rev: endRev, records: n, complete })),
      `${what}: ${did}`,
    ).toEqual([{ id: begins[0]!.id, rev, records, complete: true }])
  }
}

describe('real repository CARs backfilled from a PDS of CAR files, beside a live relay', () => {
  it(`--all: the real repos and the relay's generated ones, each one complete snapshot; the model equals @atproto/repo's reading and the frames (seed ${SEED})`, async () => {
    const what = `seed ${SEED}, --all`
    const pds = await CarPds.start([...V3, V2].map(({ car }) => car))
    const relay: ReplayHandle = await replay([generated.path], { start: 'first-client', seed: SEED, rate: { mode: 'max' } })
    /** DID -> rev and record count of every repo the PDS serves and the ingestor can publish. */
    const expected = new Map([...realTruth].map(([did, { rev, records }]) => [did, { rev, records: records.size }]))
    let run: RepoStateRun | null = null
    try {
      run = await startRepoStateIngestor(own.redis.url, relay, { resyncFrom: pds.url.href })
      await waitUntil(() => relay.status().finished, { what: `${what}: every frame published`, timeoutMs: 30_000 })
      // The relay's repos, as its getRepo serves them at the end, join the PDS: checked by @atproto/repo against each account's key.
      const truth = truthAfter(frames)
      let served = 0
      for (const [did, repo] of truth) {
        if (!repo.active || repo.head === null) continue
        const res = await fetch(`${relay.httpUrl}/xrpc/com.atproto.sync.getRepo?did=${did}`)
        expect(res.status, `${what}: getRepo ${did}`).toBe(200)
        const car = new Uint8Array(await res.arrayBuffer())
        const verified = await verifiedRecords(car, did, didKeyOf(generated.didDocs[did]!))
        expect(verified.records, `${what}: ${did} served as the frames left it`).toEqual(repo.records)
        expect(await pds.add(car)).toBe(did)
        expected.set(did, { rev: verified.rev, records: verified.records.size })
        served++
      }
      expect(served, what).toBeGreaterThan(10)
      await settle(run, relay, own.admin, lastSeq(), 0, what)

      const store = new BackfillStore(own.admin, keyLayout(1, false), run.keys.stream)
      const final = await backfillRun(own.admin, run.keys.stream, { kind: 'all' }, pds.url)
      expect(final, what).toMatchObject({ listed: served + 3, listingComplete: true })
      await expectEnded(store, served + 3, what)
      expect(run.handle.status().counters.backfillReposDone, what).toBe(served + 2)
    } finally {
      await run?.handle.stop()
      await relay.close()
      await pds.close()
    }
    await expectOneSnapshotEach(run.keys.stream, expected, what)
    expect(diffRepos((await modelOf(own.redis.url, run.keys.stream)).repos(), withRealTruth(groundTruth(frames))), what).toEqual([])
  }, 120_000)

  it('a DID list of the real repos, getRepo answering a 500 then a 429 first: retried until each is one complete snapshot; an idle relay', async () => {
    const what = 'dids, getRepo faults'
    const pds = await CarPds.start([...V3, V2].map(({ car }) => car))
    pds.fail('getRepo', { kind: 'status-500' })
    pds.fail('getRepo', { kind: 'rate-limited', resetInSec: 1 })
    const relay = await replay([generated.path], { start: 'paused', seed: SEED })
    let run: RepoStateRun | null = null
    try {
      run = await startRepoStateIngestor(own.redis.url, relay, { resyncFrom: pds.url.href })
      const store = new BackfillStore(own.admin, keyLayout(1, false), run.keys.stream)
      const dids = [...V3, V2].map(({ did }) => did)
      const final = await backfillRun(own.admin, run.keys.stream, { kind: 'dids', dids }, null)
      expect(final, what).toMatchObject({ listed: 3, listingComplete: true })
      await expectEnded(store, 3, what)
      // The two faults were answered (each a failed fetch, retried), and the v2 repo failed at least once.
      expect(run.handle.status().counters.resyncsFailed, what).toBeGreaterThanOrEqual(3)
      expect(pds.requests.filter((path) => path.startsWith('/xrpc/com.atproto.sync.getRepo')).length, what).toBeGreaterThanOrEqual(5)
      expect(relay.status().framesPublished, what).toBe(0)
    } finally {
      await run?.handle.stop()
      await relay.close()
      await pds.close()
    }
    await expectOneSnapshotEach(run.keys.stream, new Map([...realTruth].map(([did, { rev, records }]) => [did, { rev, records: records.size }])), what)
    expect(diffRepos((await modelOf(own.redis.url, run.keys.stream)).repos(), withRealTruth(new Map())), what).toEqual([])
  }, 120_000)
})

import { lexToJson } from '@atproto/lexicon'
import { cborToLexRecord } from '@atproto/repo'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { decodeEvent } from '../../protocol/events.js'
import { encodeFrame } from '../../protocol/frame.js'
import type { SnapshotOp } from '../../protocol/snapshot-entry.js'
import { RepoSyncError } from '../../repo-sync/errors.js'
import type { RepoRecord } from '../../repo-sync/fetch-types.js'
import { snapshotParts, type SnapshotPartLimits } from '../../repo-sync/snapshot-parts.js'
import { commitParts } from '../protocol/helpers.js'
import { pathOf, repoRecord } from '../support/snapshot-scenario.js'
import { REAL_CARS, referenceRecords } from './fetch-fixtures.js'

/** `count` records sorted by path (as MST order is), texts of seeded length with multi-byte characters, some links and bytes. */
async function seededRecords(random: SeededRandom, count: number, maxText: number): Promise<RepoRecord[]> {
  const records: RepoRecord[] = []
  for (let i = 0; i < count; i++) {
    const collection = random.pick(['app.bsky.feed.like', 'app.bsky.feed.post', 'app.bsky.graph.follow'])
    const text = 'é🦋a'.repeat(random.int(0, maxText) / 3)
    const value: Record<string, unknown> = { $type: collection, text, createdAt: '2026-12-07T10:00:00.000Z' }
    if (random.bool(0.3)) value.subject = { cid: CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'), uri: 'at://did:plc:x/app.bsky.feed.post/3k' }
    if (random.bool(0.2)) value.raw = random.bytes(random.int(0, 40))
    records.push(await repoRecord(`${collection}/3k${String(i).padStart(6, '0')}`, value))
  }
  return records.sort((a, b) => (`${a.collection}/${a.rkey}` < `${b.collection}/${b.rkey}` ? -1 : 1))
}

async function* stream(records: readonly RepoRecord[]): AsyncGenerator<RepoRecord> {
  yield* records
}

async function partsOf(records: readonly RepoRecord[], limits?: Partial<SnapshotPartLimits>): Promise<SnapshotOp[][]> {
  const parts: SnapshotOp[][] = []
  for await (const part of snapshotParts(stream(records), limits)) parts.push(part)
  return parts
}

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value))

/** What the decoder (protocol/events.ts) gives each record in a #commit frame that carries the same block. */
async function decoderRecords(records: readonly RepoRecord[]): Promise<Map<string, { cid: string; record: unknown }>> {
  const { body, recordCids } = await commitParts(records.map((r) => ({ action: 'create', path: pathOf(r), record: dagCbor.decode(r.bytes) })))
  // Re-encoding the decoded value gave the same block: the frame carries the very bytes of the repo.
  for (const record of records) expect(recordCids.get(pathOf(record))?.toString()).toBe(record.cid)
  const event = decodeEvent(encodeFrame({ op: 1, t: '#commit' }, body))
  if (event.type !== 'commit') throw new Error('not a commit')
  return new Map(event.ops.map((op) => [op.path, { cid: op.cid!, record: op.record }]))
}

describe('a part holds at most maxRecords records (default 500): a worker handles a bounded batch per entry', () => {
  it('1,234 small records: parts of 500, 500, 234', async () => {
    const records = await seededRecords(new SeededRandom(1), 1234, 10)
    expect((await partsOf(records)).map((part) => part.length)).toEqual([500, 500, 234])
  })

  it('no records: no part (the snapshot is begin and end only)', async () => {
    expect(await partsOf([])).toEqual([])
  })
})

describe("a part's ops JSON is at most maxBytes (default 1 MiB), counted in UTF-8; a part is closed only when the next record would not fit", () => {
  it('20 seeded runs: every part within both bounds, each as full as the bounds allow, nothing lost or reordered', async () => {
    const first = SeededRandom.freshSeed()
    const closedBy = { count: 0, bytes: 0, oversized: 0 }
    for (let seed = first; seed < first + 20; seed++) {
      const random = new SeededRandom(seed)
      // Every other run with few records per part, so that both bounds close parts.
      const limits = { maxRecords: (seed - first) % 2 === 0 ? random.int(1, 3) : random.int(20, 40), maxBytes: random.int(1_000, 12_000) }
      const records = await seededRecords(random, random.int(0, 300), 3_000)
      const parts = await partsOf(records, limits)
      const why = `seed ${seed}, limits ${JSON.stringify(limits)}`
      expect(
        parts.flat().map((op) => op.path),
        why,
      ).toEqual(records.map(pathOf))
      for (const [i, part] of parts.entries()) {
        expect(part.length, why).toBeGreaterThan(0)
        expect(part.length, why).toBeLessThanOrEqual(limits.maxRecords)
        expect(jsonBytes(part) <= limits.maxBytes || part.length === 1, `${why}, part ${i}: ${jsonBytes(part)} bytes`).toBe(true)
        if (jsonBytes(part) > limits.maxBytes) closedBy.oversized++
        const next = parts[i + 1]
        if (next === undefined) continue
        const full = part.length === limits.maxRecords
        expect(full || jsonBytes([...part, next[0]]) > limits.maxBytes, `${why}, part ${i} closed early`).toBe(true)
        closedBy[full ? 'count' : 'bytes']++
      }
    }
    // Both bounds and the oversized record were met (else the runs proved less than they claim).
    expect(
      Object.values(closedBy).every((n) => n > 0),
      `seeds ${first}.., ${JSON.stringify(closedBy)}`,
    ).toBe(true)
  })
})

describe('a record larger than maxBytes alone gets a part of its own: records are never split or dropped', () => {
  it('a 1.5 MiB record between small ones, default limits: parts of 10, 1, 10', async () => {
    const small = await seededRecords(new SeededRandom(2), 20, 50)
    const huge = await repoRecord('app.bsky.feed.post/3k000009z', { $type: 'app.bsky.feed.post', text: 'x'.repeat(1.5 * 1024 * 1024) })
    const records = [...small.slice(0, 10), huge, ...small.slice(10)]
    const parts = await partsOf(records)
    expect(parts.map((part) => part.length)).toEqual([10, 1, 10])
    expect(parts[1]![0]!.path).toBe(pathOf(huge))
    expect(jsonBytes(parts[1])).toBeGreaterThan(1024 * 1024)
  })
})

describe('records keep the MST order FetchedRepo.records() gives (sorted by path): parts are the repo in order', () => {
  it('the real export bnewbold (test/data/real): paths in @atproto/repo MST order, each a create with its CID', async () => {
    const reference = await referenceRecords(REAL_CARS.bnewbold.car)
    const parts = await partsOf(reference.records, { maxRecords: 7 })
    const ops = parts.flat()
    expect(ops.map((op) => [op.action, op.path, op.cid])).toEqual(reference.records.map((r) => ['create', pathOf(r), r.cid]))
    expect(ops.map((op) => op.path)).toEqual([...ops.map((op) => op.path)].sort())
  })
})

describe("each record is in the JSON data model exactly as the decoder gives a commit op's record: a snapshot and a commit of the same record look alike to a worker", () => {
  it('the real export bnewbold and seeded records with links, bytes and multi-byte text: equal to the decoder and to @atproto/lexicon lexToJson', async () => {
    const seed = SeededRandom.freshSeed()
    const real = (await referenceRecords(REAL_CARS.bnewbold.car)).records
    for (const records of [real, await seededRecords(new SeededRandom(seed), 200, 300)]) {
      const decoded = await decoderRecords(records)
      const ops = (await partsOf(records)).flat()
      expect(ops.length).toBe(records.length)
      for (const [i, op] of ops.entries()) {
        expect({ cid: op.cid, record: op.record }, `seed ${seed}, ${op.path}`).toEqual(decoded.get(op.path))
        expect(op.record, `seed ${seed}, ${op.path}`).toEqual(lexToJson(cborToLexRecord(records[i]!.bytes)))
      }
    }
  })
})

describe('a record the data model cannot carry stops the snapshot with REPO_SYNC_BAD_RECORD naming its path and CID: a snapshot is never published with a record left out', () => {
  it('bytes that are not DAG-CBOR, after the parts before it', async () => {
    const good = await seededRecords(new SeededRandom(3), 3, 10)
    const bad: RepoRecord = { collection: 'app.bsky.feed.post', rkey: 'zzz', cid: 'bafyreibad', bytes: Uint8Array.of(0xa1, 0x61) }
    const seen: number[] = []
    const failure = await (async () => {
      for await (const part of snapshotParts(stream([...good, bad]), { maxRecords: 2 })) seen.push(part.length)
    })().catch((err: unknown) => err)
    expect(seen).toEqual([2])
    expect(failure).toBeInstanceOf(RepoSyncError)
    expect(failure).toMatchObject({ code: 'REPO_SYNC_BAD_RECORD', fields: { path: 'app.bsky.feed.post/zzz', cid: 'bafyreibad' } })
  })

  it('an integer beyond 2^53 (the decoder refuses it in a commit too)', async () => {
    const big = await repoRecord('app.bsky.feed.post/3k', { $type: 'app.bsky.feed.post', n: 2n ** 60n })
    await expect(partsOf([big])).rejects.toMatchObject({ code: 'REPO_SYNC_BAD_RECORD' })
  })
})

describe('the generator reads only as its reader asks, and a reader that stops closes the records (and so the fetched repo)', () => {
  it('stopping after the first part ends the source', async () => {
    const records = await seededRecords(new SeededRandom(4), 50, 10)
    let read = 0
    let closed = false
    async function* source(): AsyncGenerator<RepoRecord> {
      try {
        for (const record of records) {
          read++
          yield record
        }
      } finally {
        closed = true
      }
    }
    for await (const part of snapshotParts(source(), { maxRecords: 5 })) {
      expect(part).toHaveLength(5)
      break
    }
    expect(closed).toBe(true)
    expect(read).toBe(6) // the sixth record closed the first part
  })
})

describe('limits are positive integers: a zero bound would make no part at all', () => {
  it.each([{ maxRecords: 0 }, { maxBytes: -1 }, { maxRecords: 1.5 }])('%j is refused', async (limits) => {
    await expect(partsOf([], limits)).rejects.toBeInstanceOf(RangeError)
  })
})

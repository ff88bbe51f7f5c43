import { lexToJson } from '@atproto/lexicon'
import { cborToLexRecord } from '@atproto/repo'
import { describe, expect, it } from 'vitest'
import type { CommitEvent, CommitOp } from '../../protocol/events.js'
import { snapshotBeginEntry, snapshotEndEntry, snapshotPartEntry, type SnapshotOp } from '../../protocol/snapshot-entry.js'
import { entryFields, toStreamEntry, type StreamEntry } from '../../protocol/stream-entry.js'
import { ModelAppView, ModelAppViewError, diffRepos, type Repos } from '../../stream-check/model-appview.js'
import { desyncScenario, snapshotEntries } from '../support/snapshot-scenario.js'
import { REAL_CARS, referenceRecords } from './fetch-fixtures.js'
import { cidOf, tidAt } from './helpers.js'

/** The oracle must itself fail on the faults it exists to catch: each test feeds it one. */

const DID = 'did:plc:modelmodelmodelmodelmode'
const T0 = Date.UTC(2025, 5, 2, 14)
const revAt = (n: number): string => tidAt(T0 + n * 1000)

let seq = 0
function commitEntry(n: number, ops: CommitOp[], did = DID): StreamEntry {
  const event: CommitEvent = {
    type: 'commit',
    seq: ++seq,
    repo: did,
    rev: revAt(n),
    since: n === 0 ? null : revAt(n - 1),
    commit: cidOf(`commit ${n}`),
    time: new Date(T0 + n * 1000).toISOString(),
    tooBig: false,
    rebase: false,
    blobs: [],
    prevData: null,
    data: null,
    ops,
  }
  return toStreamEntry(event)
}

const record = (text: string): Record<string, unknown> => ({ $type: 'app.bsky.feed.post', text, createdAt: '2025-06-02T14:00:00.000Z' })
const create = (path: string, text: string): CommitOp => ({ action: 'create', path, cid: cidOf(text), record: record(text) })
const update = (path: string, from: string, text: string): CommitOp => ({ action: 'update', path, cid: cidOf(text), prev: cidOf(from), record: record(text) })
const remove = (path: string, from: string): CommitOp => ({ action: 'delete', path, cid: null, prev: cidOf(from), record: null })

const A = 'app.bsky.feed.post/a'
const B = 'app.bsky.feed.post/b'

function codeOf(fn: () => void): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ModelAppViewError)
    return (err as ModelAppViewError).code
  }
  return 'no error'
}

const repos = (entries: [string, [string, string][]][]): Repos => new Map(entries.map(([did, records]) => [did, new Map(records.map(([path, text]) => [path, { cid: cidOf(text), record: record(text) }]))]))

describe('the model applies creates, updates and deletes per DID and path, as the entries carry them', () => {
  it('ends with the records of the commits', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(0, [create(A, 'a1'), create(B, 'b1')]))
    model.apply(commitEntry(1, [update(A, 'a1', 'a2')]))
    model.apply(commitEntry(2, [remove(B, 'b1')]))
    model.apply(commitEntry(3, []))
    expect(diffRepos(model.repos(), repos([[DID, [[A, 'a2']]]]))).toEqual([])
    expect(model.revOf(DID)).toBe(revAt(3))
  })

  it('stores the status of #account entries and changes no record for #identity and #sync', () => {
    const model = new ModelAppView()
    model.apply(toStreamEntry({ type: 'account', seq: 1, did: DID, active: false, status: 'takendown', time: '2025-06-02T14:00:00Z' }))
    model.apply(toStreamEntry({ type: 'identity', seq: 2, did: DID, handle: 'h.test', time: '2025-06-02T14:00:00Z' }))
    model.apply(toStreamEntry({ type: 'sync', seq: 3, did: DID, rev: revAt(1), commit: cidOf('c'), data: null, time: '2025-06-02T14:00:00Z' }))
    expect(model.statusOf(DID)).toBe('takendown')
    expect(diffRepos(model.repos(), new Map())).toEqual([])
  })
})

describe('the model catches a duplicate: the same record (did, path, cid, rev) applied twice', () => {
  it('an entry published twice', () => {
    const model = new ModelAppView()
    const entry = commitEntry(0, [create(A, 'a1')])
    model.apply(entry)
    expect(codeOf(() => model.apply(entry))).toBe('MODEL_DUPLICATE')
  })

  it('a path twice in one snapshot', () => {
    const model = new ModelAppView()
    const twice = [
      { path: A, cid: cidOf('a1'), record: record('a1') },
      { path: A, cid: cidOf('a1'), record: record('a1') },
    ]
    expect(codeOf(() => model.applySnapshot(DID, { rev: revAt(5), records: twice }))).toBe('MODEL_DUPLICATE')
  })
})

describe('the model catches a missing delete', () => {
  it('by the ground truth: the record is still there', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(0, [create(A, 'a1'), create(B, 'b1')]))
    // The delete of B at rev 1 never arrives.
    model.apply(commitEntry(2, [update(A, 'a1', 'a2')]))
    expect(diffRepos(model.repos(), repos([[DID, [[A, 'a2']]]]))).toEqual([`${DID} ${B}: extra ${cidOf('b1')} (deleted or never written)`])
  })

  it('at once, when the path is created again over the record still held', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(0, [create(A, 'a1')]))
    expect(codeOf(() => model.apply(commitEntry(2, [create(A, 'a3')])))).toBe('MODEL_CREATE_OVER_EXISTING')
  })
})

describe('the model catches a stale update', () => {
  it('a commit older than one applied (replayed out of order)', () => {
    const model = new ModelAppView()
    const older = commitEntry(1, [update(A, 'a1', 'a2')])
    model.apply(commitEntry(0, [create(A, 'a1')]))
    model.apply(commitEntry(2, [create(B, 'b1')]))
    expect(codeOf(() => model.apply(older))).toBe('MODEL_STALE')
    expect(codeOf(() => model.apply(commitEntry(2, [])))).toBe('MODEL_STALE')
  })

  it('an update or delete from a version the model does not hold (an update between them was missed)', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(0, [create(A, 'a1')]))
    // The update a1 -> a2 at rev 1 never arrives.
    expect(codeOf(() => model.apply(commitEntry(2, [update(A, 'a2', 'a3')])))).toBe('MODEL_PREV_MISMATCH')
    expect(codeOf(() => model.apply(commitEntry(2, [remove(A, 'a2')])))).toBe('MODEL_PREV_MISMATCH')
  })

  it('a refused commit changes nothing', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(0, [create(A, 'a1')]))
    expect(codeOf(() => model.apply(commitEntry(1, [create(B, 'b1'), update(A, 'zz', 'a2')])))).toBe('MODEL_PREV_MISMATCH')
    expect(diffRepos(model.repos(), repos([[DID, [[A, 'a1']]]]))).toEqual([])
  })

  it('accepts updates and deletes of records it never saw created (a repo older than the stream)', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(0, [update(A, 'before', 'a1'), remove(B, 'before')]))
    expect(diffRepos(model.repos(), repos([[DID, [[A, 'a1']]]]))).toEqual([])
  })
})

describe('applySnapshot: everything held for the DID older than the snapshot is replaced by its records (what was deleted meanwhile disappears)', () => {
  it('replaces, then later commits apply on top', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(0, [create(A, 'a1'), create(B, 'b1')]))
    // Meanwhile (lost): B deleted, C created. The snapshot at rev 5 says so.
    model.applySnapshot(DID, {
      rev: revAt(5),
      records: [
        { path: A, cid: cidOf('a1'), record: record('a1') },
        { path: 'app.bsky.feed.post/c', cid: cidOf('c1'), record: record('c1') },
      ],
    })
    model.apply(commitEntry(6, [update(A, 'a1', 'a2')]))
    expect(
      diffRepos(
        model.repos(),
        repos([
          [
            DID,
            [
              [A, 'a2'],
              ['app.bsky.feed.post/c', 'c1'],
            ],
          ],
        ]),
      ),
    ).toEqual([])
    expect(model.revOf(DID)).toBe(revAt(6))
  })

  it('refuses a snapshot older than what was applied, a second one at the same rev, and a commit the snapshot covers', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(3, [create(A, 'a1')]))
    expect(codeOf(() => model.applySnapshot(DID, { rev: revAt(2), records: [] }))).toBe('MODEL_STALE')
    model.applySnapshot(DID, { rev: revAt(5), records: [] })
    expect(codeOf(() => model.applySnapshot(DID, { rev: revAt(5), records: [] }))).toBe('MODEL_STALE')
    expect(codeOf(() => model.apply(commitEntry(4, [create(B, 'b1')])))).toBe('MODEL_STALE')
  })

  it("takes one snapshot at the rev applied (a backfill restates the repo whole): the commit's own records are not applied twice, the older ones arrive", () => {
    const model = new ModelAppView()
    model.apply(commitEntry(3, [create(A, 'a1')]))
    const whole = { rev: revAt(3), records: [A, B].map((path, i) => ({ path, cid: cidOf(['a1', 'b0'][i]!), record: record(['a1', 'b0'][i]!) })) }
    model.applySnapshot(DID, whole)
    expect(
      diffRepos(
        model.repos(),
        repos([
          [
            DID,
            [
              [A, 'a1'],
              [B, 'b0'],
            ],
          ],
        ]),
      ),
    ).toEqual([])
    expect(codeOf(() => model.applySnapshot(DID, whole))).toBe('MODEL_STALE')
  })

  it('touches no other DID', () => {
    const model = new ModelAppView()
    const other = 'did:plc:otherotherotherotherothe'
    model.apply(commitEntry(0, [create(A, 'x1')], other))
    model.applySnapshot(DID, { rev: revAt(5), records: [] })
    expect(diffRepos(model.repos(), repos([[other, [[A, 'x1']]]]))).toEqual([])
  })
})

describe('diffRepos names every difference, one line each', () => {
  it('missing, extra, another CID, another record under the same CID; an absent DID is an empty repo', () => {
    const actual: Repos = new Map([
      [
        DID,
        new Map([
          [A, { cid: cidOf('a1'), record: record('a1') }],
          [B, { cid: cidOf('b1'), record: record('tampered') }],
          ['app.bsky.feed.post/x', { cid: cidOf('x'), record: record('x') }],
        ]),
      ],
    ])
    const expected: Repos = new Map([
      [
        DID,
        new Map([
          [A, { cid: cidOf('a2'), record: record('a2') }],
          [B, { cid: cidOf('b1'), record: record('b1') }],
        ]),
      ],
      ['did:plc:empty', new Map()],
      ['did:plc:other', new Map([[A, { cid: cidOf('o'), record: record('o') }]])],
    ])
    expect(diffRepos(actual, expected)).toEqual([
      `${DID} ${A}: ${cidOf('a1')}, expected ${cidOf('a2')}`,
      `${DID} ${B}: record differs from the expected one under the same CID ${cidOf('b1')}`,
      `${DID} app.bsky.feed.post/x: extra ${cidOf('x')} (deleted or never written)`,
      `did:plc:other ${A}: missing (expected ${cidOf('o')})`,
    ])
  })
})

describe('the model refuses entries that break the contract (a bug upstream of it, not a record fault)', () => {
  it.each<[string, StreamEntry]>([
    ['data not JSON', { type: 'commit', seq: 1, data: '{' }],
    ['data not an object', { type: 'commit', seq: 1, data: '[]' }],
    ['no repo', { type: 'commit', seq: 1, data: JSON.stringify({ rev: revAt(0), ops: [] }) }],
    ['ops not an array', { type: 'commit', seq: 1, data: JSON.stringify({ repo: DID, rev: revAt(0), ops: {} }) }],
    ['an op with an unknown action', { type: 'commit', seq: 1, data: JSON.stringify({ repo: DID, rev: revAt(0), ops: [{ action: 'upsert', path: A }] }) }],
    ['a create without a cid', { type: 'commit', seq: 1, data: JSON.stringify({ repo: DID, rev: revAt(0), ops: [{ action: 'create', path: A, cid: null }] }) }],
    ['an account without a did', { type: 'account', seq: 1, data: JSON.stringify({ active: true }) }],
  ])('%s', (_what, entry) => {
    expect(codeOf(() => new ModelAppView().apply(entry))).toBe('MODEL_BAD_ENTRY')
  })
})

const TIME = '2026-12-07T10:00:00.000Z'
const snapshotOf = (id: string, n: number) => {
  const head = { did: DID, id, rev: revAt(n), data: cidOf(`root ${n}`), commit: cidOf(`snapshot commit ${n}`) }
  return {
    begin: (): StreamEntry => snapshotBeginEntry(head, 99, TIME),
    part: (part: number, texts: [string, string][]): StreamEntry =>
      snapshotPartEntry(
        head,
        part,
        texts.map(([path, text]): SnapshotOp => ({ action: 'create', path, cid: cidOf(text), record: record(text) })),
        99,
        TIME,
      ),
    end: (records: number, parts: number, complete = true): StreamEntry => snapshotEndEntry(head, { records, parts, complete }, 99, TIME),
  }
}
const C = 'app.bsky.feed.post/c'

describe('snapshot entries, read through the consumer parseEntry as a worker gets them, are applied like applySnapshot: the DID holds exactly the snapshot, what was deleted during the desync goes', () => {
  it('the desync scenario (test/support/snapshot-scenario.ts; from a real Redis stream in test/consumer/snapshot.test.ts) equals its ground truth', async () => {
    const scenario = await desyncScenario()
    const model = new ModelAppView()
    for (const entry of scenario.entries) model.applyFields(entryFields(entry))
    expect(diffRepos(model.repos(), scenario.truth)).toEqual([])
  })

  it('the real export bnewbold in parts of 7: every record, as @atproto/repo reads the CAR', async () => {
    const reference = await referenceRecords(REAL_CARS.bnewbold.car)
    const did = REAL_CARS.bnewbold.did
    const model = new ModelAppView()
    const head = { did, id: `${reference.rev}:00000001`, rev: reference.rev, data: reference.data, commit: cidOf('commit') }
    for (const entry of await snapshotEntries(head, reference.records, { seq: 1, time: TIME, limits: { maxRecords: 7 } })) model.applyFields(entryFields(entry))
    const truth: Repos = new Map([[did, new Map(reference.records.map((r) => [`${r.collection}/${r.rkey}`, { cid: r.cid, record: lexToJson(cborToLexRecord(r.bytes)) }]))]])
    expect(diffRepos(model.repos(), truth)).toEqual([])
    expect(model.revOf(did)).toBe(reference.rev)
  })
})

describe('an abandoned snapshot (end with complete: false) upserts its records and deletes nothing: the complete snapshot that follows does the deleting', () => {
  it('B survives the abandoned one, goes with the complete one at the same rev; no record counts as applied twice', () => {
    const model = new ModelAppView()
    model.apply(commitEntry(0, [create(A, 'a1'), create(B, 'b1')]))
    const abandoned = snapshotOf('first', 5)
    for (const entry of [abandoned.begin(), abandoned.part(0, [[A, 'a2']]), abandoned.end(1, 1, false)]) model.apply(entry)
    expect(
      diffRepos(
        model.repos(),
        repos([
          [
            DID,
            [
              [A, 'a2'],
              [B, 'b1'],
            ],
          ],
        ]),
      ),
    ).toEqual([])
    expect(model.revOf(DID)).toBe(revAt(0))
    const complete = snapshotOf('second', 5)
    for (const entry of [complete.begin(), complete.part(0, [[A, 'a2']]), complete.part(1, [[C, 'c1']]), complete.end(2, 2)]) model.apply(entry)
    expect(
      diffRepos(
        model.repos(),
        repos([
          [
            DID,
            [
              [A, 'a2'],
              [C, 'c1'],
            ],
          ],
        ]),
      ),
    ).toEqual([])
    expect(model.revOf(DID)).toBe(revAt(5))
  })
})

describe('the model catches a snapshot part lost or published twice, and parts without their begin', () => {
  const run = (entries: StreamEntry[]): string =>
    codeOf(() => {
      const model = new ModelAppView()
      for (const entry of entries) model.apply(entry)
    })
  const s = snapshotOf('s', 5)
  it('a part skipped', () => expect(run([s.begin(), s.part(1, [[A, 'a1']])])).toBe('MODEL_SNAPSHOT_INCOMPLETE'))
  it('the last part lost: the end counts more than came', () => expect(run([s.begin(), s.part(0, [[A, 'a1']]), s.end(2, 2)])).toBe('MODEL_SNAPSHOT_INCOMPLETE'))
  it('a part twice', () => expect(run([s.begin(), s.part(0, [[A, 'a1']]), s.part(0, [[A, 'a1']])])).toBe('MODEL_DUPLICATE'))
  it('a begin twice', () => expect(run([s.begin(), s.begin()])).toBe('MODEL_DUPLICATE'))
  it('a part or end without a begin', () => {
    expect(run([s.part(0, [[A, 'a1']])])).toBe('MODEL_BAD_ENTRY')
    expect(run([s.end(0, 0)])).toBe('MODEL_BAD_ENTRY')
  })
})

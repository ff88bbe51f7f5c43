import { describe, expect, it } from 'vitest'
import type { CommitEvent } from '../../protocol/events.js'
import { snapshotBeginEntry, snapshotEndEntry, snapshotPartEntry, type SnapshotHead, type SnapshotOp } from '../../protocol/snapshot-entry.js'
import { entryFields, toStreamEntry } from '../../protocol/stream-entry.js'

const head: SnapshotHead = {
  did: 'did:plc:44ybard66vv44zksje25o7dz',
  id: '3lmxjzbfkb522:0a1b2c3d',
  rev: '3lmxjzbfkb522',
  data: 'bafyreihdata',
  commit: 'bafyreihcommit',
}
const TIME = '2026-12-07T10:00:00.000Z'
const SEQ = 35942466
const ops: SnapshotOp[] = [
  { action: 'create', path: 'app.bsky.feed.post/3k2a', cid: 'bafyreia', record: { $type: 'app.bsky.feed.post', text: 'héllo', createdAt: TIME } },
  { action: 'create', path: 'app.bsky.feed.post/3k2b', cid: 'bafyreib', record: { $type: 'app.bsky.feed.post', embed: { $link: 'bafyreic' }, bytes: { $bytes: 'AQID' } } },
]

describe('every snapshot entry is written in the contract order type, data, seq: legacy workers read fields 1, 3 and 5 by position', () => {
  it('begin, a part and end', () => {
    const entries = [snapshotBeginEntry(head, SEQ, TIME), snapshotPartEntry(head, 0, ops, SEQ, TIME), snapshotEndEntry(head, { records: 2, parts: 1, complete: true }, SEQ, TIME)]
    expect(entries.map((entry) => Object.keys(entry))).toEqual([
      ['type', 'seq', 'data'],
      ['type', 'seq', 'data'],
      ['type', 'seq', 'data'],
    ])
    for (const entry of entries) {
      const fields = entryFields(entry)
      expect([fields[0], fields[2], fields[4]]).toEqual(['type', 'data', 'seq'])
      expect(fields[5]).toBe(String(SEQ))
    }
    expect(entries.map((entry) => entry.type)).toEqual(['snapshot', 'commit', 'snapshot'])
  })
})

describe('begin and end are `type snapshot` with the decided keys in order: a worker finds the snapshot id, the repo rev, its MST root and commit', () => {
  it('begin', () => {
    const entry = snapshotBeginEntry(head, SEQ, TIME)
    expect(entry.data).toBe(
      '{"did":"did:plc:44ybard66vv44zksje25o7dz","phase":"begin","id":"3lmxjzbfkb522:0a1b2c3d","rev":"3lmxjzbfkb522","data":"bafyreihdata","commit":"bafyreihcommit","time":"2026-12-07T10:00:00.000Z","seq":35942466}',
    )
  })

  it('end, complete or abandoned (complete false: a worker deletes nothing for it)', () => {
    const complete = JSON.parse(snapshotEndEntry(head, { records: 1200, parts: 3, complete: true }, SEQ, TIME).data) as Record<string, unknown>
    expect(Object.keys(complete)).toEqual(['did', 'phase', 'id', 'rev', 'data', 'commit', 'records', 'parts', 'complete', 'time', 'seq'])
    expect(complete).toEqual({ ...head, phase: 'end', records: 1200, parts: 3, complete: true, time: TIME, seq: SEQ })
    expect(JSON.parse(snapshotEndEntry(head, { records: 0, parts: 0, complete: false }, SEQ, TIME).data)).toMatchObject({ records: 0, parts: 0, complete: false })
  })
})

describe('a part is a `commit` entry shaped like a relay commit, plus `snapshot`: a legacy worker upserts its records as creates', () => {
  it('has a commit entry keys in their order, then snapshot {id, part}; since and prevData null, not tooBig, no blobs', () => {
    const relay: CommitEvent = { type: 'commit', seq: SEQ, repo: head.did, rev: head.rev, since: null, commit: head.commit, time: TIME, tooBig: false, rebase: false, blobs: [], prevData: null, data: null, ops }
    const commitKeys = Object.keys(JSON.parse(toStreamEntry(relay).data) as object)
    const part = JSON.parse(snapshotPartEntry(head, 4, ops, SEQ, TIME).data) as Record<string, unknown>
    expect(Object.keys(part)).toEqual([...commitKeys, 'snapshot'])
    expect(part).toEqual({ repo: head.did, ops, rev: head.rev, commit: head.commit, time: TIME, since: null, prevData: null, tooBig: false, blobs: [], seq: SEQ, snapshot: { id: head.id, part: 4 } })
  })

  it('carries the records as given (the JSON data model), in order, and no MST root', () => {
    const part = JSON.parse(snapshotPartEntry(head, 0, ops, SEQ, TIME).data) as { ops: SnapshotOp[]; data?: unknown }
    expect(part.ops).toEqual(ops)
    expect(part.data).toBeUndefined()
  })
})

describe('seq is the seq given to every entry of one snapshot (the shard cursor when written): it repeats, consumers tell parts apart by id and part', () => {
  it('is the same field and data value on begin, parts and end', () => {
    const entries = [snapshotBeginEntry(head, 7, TIME), snapshotPartEntry(head, 0, ops, 7, TIME), snapshotPartEntry(head, 1, ops, 7, TIME), snapshotEndEntry(head, { records: 4, parts: 2, complete: true }, 7, TIME)]
    expect(entries.map((entry) => [entry.seq, (JSON.parse(entry.data) as { seq: number }).seq])).toEqual([
      [7, 7],
      [7, 7],
      [7, 7],
      [7, 7],
    ])
  })
})

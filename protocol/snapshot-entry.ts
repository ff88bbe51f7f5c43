import type { StreamEntry } from './stream-entry.js'

/**
 * A repo snapshot as stream entries (docs/repo-sync.md, "Snapshot entries"): `begin`, 0..n
 * record parts, `end`, in the DID's shard stream, each in the contract order `type data seq`.
 * Pure: the writer chooses the id, the seq (the shard's cursor when it writes) and the time.
 */

/** Names the snapshot and the repository it holds: the DID, the snapshot id, the fetched repo's rev, MST root (`data`) and commit CID. */
export interface SnapshotHead {
  did: string
  /** Unique per snapshot (`<rev>:<8 random hex digits>`, say): consumers tell snapshots apart by it, never by seq. */
  id: string
  rev: string
  data: string
  commit: string
}

/** One record of a part: a create, as a commit op carries it; `record` in the AT Protocol JSON data model. */
export interface SnapshotOp {
  action: 'create'
  path: string
  cid: string
  record: unknown
}

/** What the end entry says of the snapshot: records and parts written; `complete: false` when it was abandoned (its records stay, nothing is deleted for it). */
export interface SnapshotSummary {
  records: number
  parts: number
  complete: boolean
}

/** `data` of the begin entry (`type snapshot`), keys in this order. */
export interface SnapshotBeginData {
  did: string
  phase: 'begin'
  id: string
  rev: string
  data: string
  commit: string
  time: string
  seq: number
}

/** `data` of the end entry (`type snapshot`), keys in this order. */
export interface SnapshotEndData {
  did: string
  phase: 'end'
  id: string
  rev: string
  data: string
  commit: string
  records: number
  parts: number
  complete: boolean
  time: string
  seq: number
}

/** `data` of a part (`type commit`): a commit entry's keys, in its order, plus `snapshot`, so a worker that reads commits by position upserts the records. */
export interface SnapshotPartData {
  repo: string
  ops: SnapshotOp[]
  rev: string
  commit: string
  time: string
  since: null
  prevData: null
  tooBig: false
  blobs: never[]
  seq: number
  snapshot: { id: string; part: number }
}

export function snapshotBeginEntry(head: SnapshotHead, seq: number, time: string): StreamEntry {
  const data: SnapshotBeginData = { did: head.did, phase: 'begin', id: head.id, rev: head.rev, data: head.data, commit: head.commit, time, seq }
  return { type: 'snapshot', seq, data: JSON.stringify(data) }
}

/** Part `part` (from 0) of the snapshot: a `commit` entry of creates. The part entries do not carry the MST root. */
export function snapshotPartData(head: Omit<SnapshotHead, 'data'>, part: number, ops: SnapshotOp[], seq: number, time: string): SnapshotPartData {
  return { repo: head.did, ops, rev: head.rev, commit: head.commit, time, since: null, prevData: null, tooBig: false, blobs: [], seq, snapshot: { id: head.id, part } }
}

export function snapshotPartEntry(head: Omit<SnapshotHead, 'data'>, part: number, ops: SnapshotOp[], seq: number, time: string): StreamEntry {
  return { type: 'commit', seq, data: JSON.stringify(snapshotPartData(head, part, ops, seq, time)) }
}

export function snapshotEndEntry(head: SnapshotHead, summary: SnapshotSummary, seq: number, time: string): StreamEntry {
  const data: SnapshotEndData = {
    did: head.did,
    phase: 'end',
    id: head.id,
    rev: head.rev,
    data: head.data,
    commit: head.commit,
    records: summary.records,
    parts: summary.parts,
    complete: summary.complete,
    time,
    seq,
  }
  return { type: 'snapshot', seq, data: JSON.stringify(data) }
}

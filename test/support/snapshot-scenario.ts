import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { tidFromTime } from '../../generator/tid.js'
import type { CommitOp } from '../../protocol/events.js'
import { snapshotBeginEntry, snapshotEndEntry, snapshotPartEntry, type SnapshotHead } from '../../protocol/snapshot-entry.js'
import { toStreamEntry, type StreamEntry } from '../../protocol/stream-entry.js'
import type { RepoRecord } from '../../repo-sync/fetch-types.js'
import { snapshotParts, type SnapshotPartLimits } from '../../repo-sync/snapshot-parts.js'
import type { Repos } from '../../stream-check/model-appview.js'

/** A record as a repo holds it (DAG-CBOR bytes, their CID), from an IPLD value. */
export async function repoRecord(path: string, value: unknown): Promise<RepoRecord> {
  const bytes = dagCbor.encode(value)
  const [collection, rkey] = path.split('/') as [string, string]
  return { collection, rkey, cid: CID.createV1(dagCbor.code, await sha256.digest(bytes)).toString(), bytes }
}

export interface SnapshotWrite {
  /** The seq of every entry: the shard's cursor when the snapshot is written. */
  seq: number
  time: string
  limits?: Partial<SnapshotPartLimits>
  /** False: the snapshot was abandoned (its end says so). Default true. */
  complete?: boolean
}

/** A repo snapshot's entries as the writer publishes them (docs/repo-sync.md): begin, the parts snapshotParts makes of `records`, end. */
export async function snapshotEntries(head: SnapshotHead, records: readonly RepoRecord[], write: SnapshotWrite): Promise<StreamEntry[]> {
  const { seq, time } = write
  const entries = [snapshotBeginEntry(head, seq, time)]
  let part = 0
  async function* source(): AsyncGenerator<RepoRecord> {
    yield* records
  }
  for await (const ops of snapshotParts(source(), write.limits)) entries.push(snapshotPartEntry(head, part++, ops, seq, time))
  entries.push(snapshotEndEntry(head, { records: records.length, parts: part, complete: write.complete ?? true }, seq, time))
  return entries
}

export interface DesyncScenario {
  did: string
  /** The stream, in order: a commit, another DID's #identity, the snapshot (begin, 2 parts, end), a commit continuing it. */
  entries: StreamEntry[]
  /** The DID's records at the end (the PDS's). */
  truth: Repos
  /** The record deleted while the repo was desynchronized: the snapshot lacks it. */
  deleted: { path: string; cid: string }
}

const TIME = '2026-12-07T10:00:00.000Z'
const T0_US = Date.UTC(2026, 11, 7) * 1000
const revAt = (n: number): string => tidFromTime(T0_US + n * 1_000_000, 3)
const post = (path: string, text: string): Promise<RepoRecord> => repoRecord(path, { $type: 'app.bsky.feed.post', text, createdAt: TIME })

/**
 * One repo desynchronized and resynced: a commit creates A, B and C; upstream, commits that never
 * reach the stream delete B, update C and create D; the snapshot at rev 5 holds A, C (updated)
 * and D in two parts; a commit at rev 6 creates E. Whoever applies the snapshot ends with A, C, D,
 * E; whoever only upserts its records still holds B.
 */
export async function desyncScenario(): Promise<DesyncScenario> {
  const did = 'did:plc:snapshotscenarioaaaaaaa'
  const [a, b, c1, c2, d, e] = await Promise.all([
    post('app.bsky.feed.post/3kaaa', 'a'),
    post('app.bsky.feed.post/3kbbb', 'b'),
    post('app.bsky.feed.post/3kccc', 'c, first'),
    post('app.bsky.feed.post/3kccc', 'c, edited'),
    post('app.bsky.feed.post/3kddd', 'd'),
    post('app.bsky.feed.post/3keee', 'e'),
  ])
  const op = (record: RepoRecord): CommitOp => ({ action: 'create', path: pathOf(record), cid: record.cid, record: dagCbor.decode(record.bytes) })
  const commit = (seq: number, rev: string, since: string | null, records: RepoRecord[]): StreamEntry =>
    toStreamEntry({ type: 'commit', seq, repo: did, rev, since, commit: `bafyreicommit${seq}`, time: TIME, tooBig: false, rebase: false, blobs: [], prevData: null, data: null, ops: records.map(op) })
  const head: SnapshotHead = { did, id: `${revAt(5)}:0a1b2c3d`, rev: revAt(5), data: 'bafyreimstroot', commit: 'bafyreisnapshotcommit' }
  const entries = [
    commit(10, revAt(1), null, [a, b, c1]),
    toStreamEntry({ type: 'identity', seq: 11, did: 'did:plc:someoneelseaaaaaaaaaaaa', handle: 'else.test', time: TIME }),
    ...(await snapshotEntries(head, [a, c2, d], { seq: 11, time: TIME, limits: { maxRecords: 2 } })),
    commit(12, revAt(6), revAt(5), [e]),
  ]
  const truth: Repos = new Map([[did, new Map([a, c2, d, e].map((r) => [pathOf(r), { cid: r.cid, record: dagCbor.decode(r.bytes) }]))]])
  return { did, entries, truth, deleted: { path: pathOf(b), cid: b.cid } }
}

export const pathOf = (record: RepoRecord): string => `${record.collection}/${record.rkey}`

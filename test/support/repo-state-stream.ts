import { snapshotBeginEntry, snapshotEndEntry, snapshotPartEntry, type SnapshotHead, type SnapshotOp } from '../../protocol/snapshot-entry.js'
import type { Redis } from 'ioredis'
import { entryFields, toStreamEntry, type StreamEntry } from '../../protocol/stream-entry.js'
import { encodeRepoState } from '../../repo-sync/repo-state-codec.js'
import type { SyncState } from '../../repo-sync/types.js'

/**
 * Stream entries as an ingestor with `--repo-state` writes them (protocol/stream-entry.ts and
 * protocol/snapshot-entry.ts), for tests that write a stream with XADD in contract order.
 */
const TIME = '2026-01-01T00:00:00.000Z'

export const relay = {
  commit: (seq: number, repo: string): StreamEntry =>
    toStreamEntry({
      type: 'commit',
      seq,
      repo,
      rev: `3kaaaaaaaa${String(seq).padStart(3, '2')}`,
      since: null,
      commit: `bafyreicommit${seq}`,
      time: TIME,
      tooBig: false,
      rebase: false,
      blobs: [],
      prevData: null,
      data: null,
      ops: [],
    }),
  identity: (seq: number, did: string): StreamEntry => toStreamEntry({ type: 'identity', seq, did, handle: null, time: TIME }),
  account: (seq: number, did: string): StreamEntry => toStreamEntry({ type: 'account', seq, did, active: true, status: null, time: TIME }),
  sync: (seq: number, did: string): StreamEntry => toStreamEntry({ type: 'sync', seq, did, rev: `3kbbbbbbbb${String(seq).padStart(3, '2')}`, commit: `bafyreisync${seq}`, data: null, time: TIME }),
}

/** A repo snapshot's entries, apart so a test can drop, repeat or reorder them. */
export interface SnapshotPieces {
  begin: StreamEntry
  /** Part k holds `records[k]` records. */
  parts: StreamEntry[]
  /** The end a writer would write: the parts and records above, `complete` as given (default true). */
  end: StreamEntry
  head: SnapshotHead
}

export function snapshot(did: string, id: string, seq: number, records: readonly number[], complete = true): SnapshotPieces {
  const head: SnapshotHead = { did, id, rev: '3kcccccccccc2', data: 'bafyreimstroot', commit: 'bafyreisnapshotcommit' }
  let next = 0
  const ops = (count: number): SnapshotOp[] => Array.from({ length: count }, () => ({ action: 'create', path: `app.bsky.feed.post/3k${next++}`, cid: `bafyreirecord${next}`, record: { text: `post ${next}` } }))
  return {
    head,
    begin: snapshotBeginEntry(head, seq, TIME),
    parts: records.map((count, part) => snapshotPartEntry(head, part, ops(count), seq, TIME)),
    end: snapshotEndEntry(head, { records: records.reduce((sum, count) => sum + count, 0), parts: records.length, complete }, seq, TIME),
  }
}

/** The end `pieces` would have with other counts (what a writer that lost track would write). */
export function endSaying(pieces: SnapshotPieces, summary: { records: number; parts: number; complete: boolean }): StreamEntry {
  return snapshotEndEntry(pieces.head, summary, pieces.begin.seq, TIME)
}

/** A stored per-repo state (repo-sync/repo-state-codec.ts) in the given sync state, as the ingestor keeps it in `<stream>:repos`. */
export function storedState(sync: SyncState): Buffer {
  return encodeRepoState({ rev: '3kaaaaaaaa222', data: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm', status: 'active', sync })
}

let streamCounter = 0

/** Writes `entries` with XADD in contract order to a new stream named after `prefix`; returns its key. */
export async function xaddEntries(redis: Redis, entries: readonly StreamEntry[], prefix: string): Promise<string> {
  const key = `${prefix}:${process.pid}:${++streamCounter}`
  const pipeline = redis.pipeline()
  for (const entry of entries) pipeline.xadd(key, '*', ...entryFields(entry))
  await pipeline.exec()
  return key
}

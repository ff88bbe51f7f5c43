import type { StreamEntry } from '../protocol/stream-entry.js'
import type { RepoState } from '../repo-sync/types.js'
import type { BelievedRepo } from './repo-plan.js'

/** What a repo's own write sees, under the write order: its state and open snapshot as believed now, and the seq its entries carry. */
export interface RepoWriteContext {
  repo: BelievedRepo
  /** The open snapshot's progress (`<stream>:snapshots`), null when none. */
  progress: string | null
  /** The shard's cursor: the `seq` of snapshot entries (docs/repo-sync.md, "Snapshot entries"). */
  seq: number
  /** The snapshot progress hash's fields the request asked for (RepoWriteFields), with their values (null: absent). */
  fields: Map<string, string | null>
}

/** Fields of the snapshot progress hash a repo write reads first: its spilled held events. */
export interface RepoWriteFields {
  /** These fields, asked when the write's turn comes. */
  named?: () => readonly string[]
  /** And every field matching this HSCAN pattern. */
  matching?: string
}

/** What to write for one repo, beside nothing else: entries, its new state, its snapshot progress. The cursor does not move. */
export interface RepoWrite {
  entries: StreamEntry[]
  /** Absent: unchanged. */
  state?: RepoState
  /** Absent: unchanged; null: the snapshot is closed (field deleted). */
  progress?: string | null
  /** Other fields of the snapshot progress hash (spilled held events, backfill markers and counters), each set only if it still holds `expected`. */
  fieldUpdates?: FieldUpdate[]
}

/** One compare-and-set of a snapshot progress hash field: `expected` '' = absent, `next` '' = delete it. */
export interface FieldUpdate {
  field: string
  expected: string
  next: string
}

/**
 * `applied`: written (or nothing needed writing); `skipped`: build said no; `resync`: the pipeline
 * found Redis holding other values and resynced (nothing written; the repo's step must start
 * again); `abandoned`: stopping while the stream is full.
 */
export type RepoWriteOutcome = 'applied' | 'skipped' | 'resync' | 'abandoned'

/** The pipeline's side of a resync (resync-worker.ts): one write of a repo's own, ordered with the relay's writes. */
export interface RepoWriter {
  /** `build` runs when the write's turn comes, on what is believed then; null: write nothing (the repo changed meanwhile). */
  writeRepo(did: string, build: (context: RepoWriteContext) => RepoWrite | null, fields?: RepoWriteFields): Promise<RepoWriteOutcome>
}

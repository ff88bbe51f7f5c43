import { isFrameDecodeError } from '../protocol/errors.js'
import { recordJson } from '../protocol/events.js'
import type { SnapshotOp } from '../protocol/snapshot-entry.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'
import type { RepoRecord } from './fetch-types.js'

export interface SnapshotPartLimits {
  /** Records in one part, at most. */
  maxRecords: number
  /** UTF-8 bytes of one part's `ops` JSON array, at most; a record larger than that alone gets a part of its own. */
  maxBytes: number
}

export const DEFAULT_SNAPSHOT_PART_LIMITS: Readonly<SnapshotPartLimits> = { maxRecords: 500, maxBytes: 1024 * 1024 }

/**
 * A fetched repo's records (FetchedRepo.records(), MST order) as the ops of its snapshot parts
 * (docs/repo-sync.md, "Snapshot entries"), in the same order: each record a create whose
 * `record` is the JSON data model the decoder gives a commit op's record (protocol/events.ts:
 * decodeDagCborJson in one pass, checked against toJsonModel of decodeCbor).
 *
 * Bounded: one part is held at a time. Overflow policy: the record that would take the part past
 * `maxRecords` records or `maxBytes` of JSON closes it (it is yielded) and starts the next, so no
 * part exceeds maxBytes unless its one record does. No records, no part. The generator runs only
 * as its reader asks; stopping early closes `records` (and with it the fetched repo).
 * A record that is not DAG-CBOR, or holds an integer beyond 2^53: RepoSyncError REPO_SYNC_BAD_RECORD.
 */
export async function* snapshotParts(records: AsyncIterable<RepoRecord>, limits: Partial<SnapshotPartLimits> = {}): AsyncGenerator<SnapshotOp[], void, undefined> {
  const { maxRecords, maxBytes } = checkedLimits(limits)
  let part: SnapshotOp[] = []
  let bytes = 0
  for await (const { collection, rkey, cid, bytes: cbor } of records) {
    const path = `${collection}/${rkey}`
    const op: SnapshotOp = { action: 'create', path, cid, record: recordOf(cbor, path, cid) }
    const size = Buffer.byteLength(JSON.stringify(op))
    // The part's JSON is `[` op `,` op ... `]`.
    if (part.length > 0 && (part.length >= maxRecords || bytes + 1 + size > maxBytes)) {
      yield part
      part = []
    }
    bytes = part.length === 0 ? 2 + size : bytes + 1 + size
    part.push(op)
  }
  if (part.length > 0) yield part
}

/** The record's JSON data model in one pass (decodeDagCborJson, as protocol/events.ts decodes a commit's records). */
function recordOf(cbor: Uint8Array, path: string, cid: string): unknown {
  try {
    return recordJson(cbor, path)
  } catch (err) {
    if (!isFrameDecodeError(err)) throw err
    throw new RepoSyncError(RepoSyncErrorCode.BadRecord, `record ${path} (${cid}) is not a data model record: ${err.message}`, { path, cid }, { cause: err })
  }
}

function checkedLimits(limits: Partial<SnapshotPartLimits>): SnapshotPartLimits {
  const checked = { maxRecords: limits.maxRecords ?? DEFAULT_SNAPSHOT_PART_LIMITS.maxRecords, maxBytes: limits.maxBytes ?? DEFAULT_SNAPSHOT_PART_LIMITS.maxBytes }
  for (const [name, value] of Object.entries(checked)) if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer (got ${value})`)
  return checked
}

import { isDeepStrictEqual } from 'node:util'
import { FirehoseError } from '../common/firehose-error.js'
import { parseEntry, type SnapshotData, type StreamEvent } from '../consumer/events.js'
import { entryFields, type StreamEntry } from '../protocol/stream-entry.js'

/** One record as an AppView holds it. */
export interface ModelRecord {
  cid: string
  /** The record in the AT Protocol JSON data model, as the entry carried it. */
  record: unknown
}

/** Every repository: did -> path (`collection/rkey`) -> record. */
export type Repos = Map<string, Map<string, ModelRecord>>

/** A repository snapshot as the stream will carry it: the repo at `rev`, every record of it. */
export interface ModelSnapshot {
  rev: string
  records: Iterable<{ path: string; cid: string; record: unknown }>
}

export const ModelAppViewErrorCode = {
  /** The same record (did, path, cid, rev) applied twice: an entry or snapshot chunk published twice. */
  Duplicate: 'MODEL_DUPLICATE',
  /** A commit or snapshot at or below the rev already applied for its DID: published twice, or out of order. */
  Stale: 'MODEL_STALE',
  /** A create where a record is held: the delete before it was never applied. */
  CreateOverExisting: 'MODEL_CREATE_OVER_EXISTING',
  /** An update or delete whose `prev` is not the CID held: an update between them was missed, or applied out of order. */
  PrevMismatch: 'MODEL_PREV_MISMATCH',
  /** An entry that does not have the contract's shape. */
  BadEntry: 'MODEL_BAD_ENTRY',
  /** A snapshot part missing: a part number skipped, or the end's record and part counts not what its parts brought. */
  SnapshotIncomplete: 'MODEL_SNAPSHOT_INCOMPLETE',
} as const
export type ModelAppViewErrorCode = (typeof ModelAppViewErrorCode)[keyof typeof ModelAppViewErrorCode]

export class ModelAppViewError extends FirehoseError<ModelAppViewErrorCode> {}

interface HeldRecord extends ModelRecord {
  /** The rev of the commit or snapshot that wrote it. */
  rev: string
}

interface ModelRepo {
  /** The highest rev applied (commit or snapshot); '' before any. */
  rev: string
  records: Map<string, HeldRecord>
  /** As the last #account said (`active`, or its status); null before any. */
  status: string | null
  /** The rev of the last snapshot applied ('' before any): a snapshot at the rev applied is taken once, as a restatement. */
  wholeAt: string
}

/** A snapshot between its begin and end entries: its parts so far. */
interface OpenSnapshot {
  rev: string
  parts: number
  records: { path: string; cid: string; record: unknown }[]
}

/** What an error names: the entry's type and seq. */
type Where = Pick<StreamEvent, 'type' | 'seq'>

interface CommitOpJson {
  action: string
  path: string
  cid: string | null
  prev?: string | null
  record: unknown
}

/**
 * The oracle of issue 18: an AppView reduced to what it must get right. It applies stream
 * entries (the contract's `type` and `data` JSON, as the ingestor writes them, read through the
 * consumer's parseEntry as a FirehoseConsumer worker gets them) and snapshots into a map per DID
 * and path, and throws at the first sign of a stream that is not exactly once and in order per
 * repo: a record applied twice, a commit or snapshot not newer than what it already applied for
 * the DID, a create over a held record (a missed delete), an update or delete whose `prev` is not
 * what it holds (a missed or reordered update), a snapshot part missing or applied twice. Compare
 * `repos()` with the ground truth (test/support/ground-truth.ts) through `diffRepos`. Records it
 * never saw created (a repo's records from before the stream started) may be updated or deleted
 * without complaint.
 */
export class ModelAppView {
  private readonly byDid = new Map<string, ModelRepo>()
  /** Every (did, path, cid, rev) ever applied. */
  private readonly applied = new Set<string>()
  /** Snapshots begun and not ended, by did and snapshot id. */
  private readonly openSnapshots = new Map<string, OpenSnapshot>()

  apply(entry: StreamEntry): void {
    this.applyFields(entryFields(entry))
  }

  /** One stream entry's fields as Redis returns them (XRANGE, XREADGROUP), read by the consumer's parseEntry. */
  applyFields(fields: readonly string[]): void {
    const parsed = parseEntry('model', fields, 1)
    if (parsed.kind === 'malformed') throw new ModelAppViewError(ModelAppViewErrorCode.BadEntry, `malformed entry: ${parsed.reason}`, {})
    if (parsed.kind === 'unknown-type') throw new ModelAppViewError(ModelAppViewErrorCode.BadEntry, `entry of unknown type ${parsed.type}`, {})
    this.applyEvent(parsed.event)
  }

  /**
   * An event as FirehoseConsumer hands it to a worker. A repo snapshot's begin, records and end
   * are gathered per snapshot id and applied at its end: `complete: true` through applySnapshot
   * (what the DID held and the snapshot lacks is deleted); `complete: false` (abandoned) upserts
   * its records and deletes nothing.
   */
  applyEvent(event: StreamEvent): void {
    if (event.type === 'snapshot') return this.applySnapshotEvent(event.data, event)
    const data = event.data as unknown as Record<string, unknown>
    switch (event.type) {
      case 'commit':
        return this.applyCommit(requireString(data, 'repo', event), requireString(data, 'rev', event), requireOps(data, event))
      case 'account':
        this.repo(requireString(data, 'did', event)).status = data.active === true ? 'active' : typeof data.status === 'string' ? data.status : 'inactive'
        return
      case 'identity':
      case 'sync':
        // Neither changes a record: what a #sync announces reaches workers as a snapshot.
        requireString(data, 'did', event)
        return
    }
  }

  /**
   * Applies a snapshot: everything held for the DID older than the snapshot is replaced by the
   * snapshot's records, so what was deleted meanwhile disappears. A snapshot older than what was
   * applied for the DID is refused (MODEL_STALE), so everything held is older or of its rev and
   * all of it goes. One at the rev applied is taken once (a backfill restates a repo the stream's
   * commits brought there), its records of that rev not counted as applied twice; a second at that
   * rev is refused.
   */
  applySnapshot(did: string, snapshot: ModelSnapshot): void {
    const repo = this.repo(did)
    // At the rev applied, once: a backfill restates the repo whole where the stream's commits left it.
    const restating = repo.rev !== '' && snapshot.rev === repo.rev && repo.wholeAt !== repo.rev
    if (repo.rev !== '' && snapshot.rev <= repo.rev && !restating) throw stale(did, 'snapshot', snapshot.rev, repo.rev)
    const records = new Map<string, HeldRecord>()
    for (const { path, cid, record } of snapshot.records) {
      if (records.has(path)) throw new ModelAppViewError(ModelAppViewErrorCode.Duplicate, `${did} ${path}: twice in the snapshot at ${snapshot.rev}`, { did, path, rev: snapshot.rev })
      const held = repo.records.get(path)
      // The record the commit at this very rev wrote: the same application, stated again.
      if (!(restating && held?.cid === cid && held.rev === snapshot.rev)) this.markApplied(did, path, cid, snapshot.rev)
      records.set(path, { cid, record, rev: snapshot.rev })
    }
    repo.records = records
    repo.rev = snapshot.rev
    repo.wholeAt = snapshot.rev
  }

  private applySnapshotEvent(data: SnapshotData, where: Where): void {
    const { did, id } = data
    const key = `${did}\u0000${id}`
    const open = this.openSnapshots.get(key)
    if (data.phase === 'begin') {
      if (open !== undefined) throw new ModelAppViewError(ModelAppViewErrorCode.Duplicate, `${did}: snapshot ${id} begun twice`, { did, id })
      this.openSnapshots.set(key, { rev: data.rev, parts: 0, records: [] })
      return
    }
    if (open === undefined) throw badEntry(where, `snapshot ${id} of ${did}: ${data.phase} without its begin`)
    if (data.rev !== open.rev) throw badEntry(where, `snapshot ${id} of ${did}: ${data.phase} at rev ${data.rev}, begun at ${open.rev}`)
    if (data.phase === 'records') {
      if (data.part < open.parts) throw new ModelAppViewError(ModelAppViewErrorCode.Duplicate, `${did}: part ${data.part} of snapshot ${id} applied twice`, { did, id, part: data.part })
      if (data.part > open.parts) throw incomplete(did, id, `part ${open.parts} missing (part ${data.part} came)`)
      for (const op of requireOps(data as unknown as Record<string, unknown>, where)) {
        if (op.action !== 'create') throw badEntry(where, `snapshot ${id} of ${did}: ${op.action} ${op.path} (a snapshot has creates only)`)
        open.records.push({ path: op.path, cid: op.cid!, record: op.record })
      }
      open.parts++
      return
    }
    this.openSnapshots.delete(key)
    if (data.parts !== open.parts || data.records !== open.records.length) throw incomplete(did, id, `the end says ${data.records} records in ${data.parts} parts, ${open.records.length} in ${open.parts} came`)
    if (data.complete) return this.applySnapshot(did, { rev: open.rev, records: open.records })
    // Abandoned: upserted, nothing deleted, the rev left as it was (a complete snapshot follows,
    // at this rev or later); not marked applied, since that snapshot carries the records again.
    const repo = this.repo(did)
    for (const { path, cid, record } of open.records) repo.records.set(path, { cid, record, rev: open.rev })
  }

  /** The records held, without their revs: comparable with groundTruth(). */
  repos(): Repos {
    const out: Repos = new Map()
    for (const [did, repo] of this.byDid) out.set(did, new Map([...repo.records].map(([path, { cid, record }]) => [path, { cid, record }])))
    return out
  }

  /** The rev last applied for the DID ('' if none). */
  revOf(did: string): string {
    return this.byDid.get(did)?.rev ?? ''
  }

  /** The status the last #account gave the DID (null if none came). */
  statusOf(did: string): string | null {
    return this.byDid.get(did)?.status ?? null
  }

  private applyCommit(did: string, rev: string, ops: CommitOpJson[]): void {
    const repo = this.repo(did)
    // Checked before anything changes, so a refused commit leaves the model as it was.
    for (const op of ops) {
      if (op.action !== 'delete' && this.applied.has(appliedKey(did, op.path, op.cid!, rev))) throw duplicate(did, op.path, op.cid!, rev)
      const held = repo.records.get(op.path)
      if (op.action === 'create' && held !== undefined) {
        throw new ModelAppViewError(ModelAppViewErrorCode.CreateOverExisting, `${did} ${op.path}: created at ${rev} over the record held since ${held.rev} (a delete was missed)`, { did, path: op.path, rev })
      }
      if ((op.action === 'update' || op.action === 'delete') && held !== undefined && op.prev != null && op.prev !== held.cid) {
        throw new ModelAppViewError(ModelAppViewErrorCode.PrevMismatch, `${did} ${op.path}: ${op.action} at ${rev} from ${op.prev}, but ${held.cid} (rev ${held.rev}) is held`, { did, path: op.path, rev })
      }
    }
    if (repo.rev !== '' && rev <= repo.rev) throw stale(did, 'commit', rev, repo.rev)
    for (const op of ops) {
      if (op.action === 'delete') {
        repo.records.delete(op.path)
      } else {
        this.markApplied(did, op.path, op.cid!, rev)
        repo.records.set(op.path, { cid: op.cid!, record: op.record, rev })
      }
    }
    repo.rev = rev
  }

  private markApplied(did: string, path: string, cid: string, rev: string): void {
    const key = appliedKey(did, path, cid, rev)
    if (this.applied.has(key)) throw duplicate(did, path, cid, rev)
    this.applied.add(key)
  }

  private repo(did: string): ModelRepo {
    let repo = this.byDid.get(did)
    if (repo === undefined) {
      repo = { rev: '', records: new Map(), status: null, wholeAt: '' }
      this.byDid.set(did, repo)
    }
    return repo
  }
}

/**
 * The differences between two sets of repositories, one line each (empty: equal). A DID missing
 * on one side counts as an empty repository there.
 */
export function diffRepos(actual: Repos, expected: Repos): string[] {
  const lines: string[] = []
  for (const did of [...new Set([...actual.keys(), ...expected.keys()])].sort()) {
    const got = actual.get(did) ?? new Map<string, ModelRecord>()
    const want = expected.get(did) ?? new Map<string, ModelRecord>()
    for (const path of [...new Set([...got.keys(), ...want.keys()])].sort()) {
      const a = got.get(path)
      const b = want.get(path)
      if (a === undefined) lines.push(`${did} ${path}: missing (expected ${b!.cid})`)
      else if (b === undefined) lines.push(`${did} ${path}: extra ${a.cid} (deleted or never written)`)
      else if (a.cid !== b.cid) lines.push(`${did} ${path}: ${a.cid}, expected ${b.cid}`)
      else if (!isDeepStrictEqual(a.record, b.record)) lines.push(`${did} ${path}: record differs from the expected one under the same CID ${a.cid}`)
    }
  }
  return lines
}

function appliedKey(did: string, path: string, cid: string, rev: string): string {
  return `${did}\u0000${path}\u0000${cid}\u0000${rev}`
}

function duplicate(did: string, path: string, cid: string, rev: string): ModelAppViewError {
  return new ModelAppViewError(ModelAppViewErrorCode.Duplicate, `${did} ${path}: ${cid} at rev ${rev} applied twice`, { did, path, cid, rev })
}

function stale(did: string, what: string, rev: string, applied: string): ModelAppViewError {
  return new ModelAppViewError(ModelAppViewErrorCode.Stale, `${did}: ${what} at rev ${rev}, at or below the rev already applied (${applied})`, { did, rev, applied })
}

function incomplete(did: string, id: string, what: string): ModelAppViewError {
  return new ModelAppViewError(ModelAppViewErrorCode.SnapshotIncomplete, `${did}: snapshot ${id}: ${what}`, { did, id })
}

function requireString(data: Record<string, unknown>, key: string, entry: Where): string {
  const value = data[key]
  if (typeof value !== 'string' || value === '') throw badEntry(entry, `\`${key}\` is not a non-empty string`)
  return value
}

function requireOps(data: Record<string, unknown>, entry: Where): CommitOpJson[] {
  if (!Array.isArray(data.ops)) throw badEntry(entry, '`ops` is not an array')
  return data.ops.map((raw: unknown, i): CommitOpJson => {
    const op = raw as Partial<CommitOpJson> | null
    if (typeof op !== 'object' || op === null || typeof op.path !== 'string' || !['create', 'update', 'delete'].includes(op.action as string)) throw badEntry(entry, `ops[${i}] is not {action, path}`)
    if (op.action !== 'delete' && typeof op.cid !== 'string') throw badEntry(entry, `ops[${i}] (${op.action} ${op.path}) has no cid`)
    return op as CommitOpJson
  })
}

function badEntry(entry: Where, reason: string): ModelAppViewError {
  return new ModelAppViewError(ModelAppViewErrorCode.BadEntry, `${entry.type} entry seq ${entry.seq}: ${reason}`, { seq: entry.seq })
}

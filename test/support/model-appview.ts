import { isDeepStrictEqual } from 'node:util'
import { FirehoseError } from '../../common/firehose-error.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'

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
}

interface CommitOpJson {
  action: string
  path: string
  cid: string | null
  prev?: string | null
  record: unknown
}

/**
 * The oracle of issue 18: an AppView reduced to what it must get right. It applies stream
 * entries (the contract's `type` and `data` JSON, as the ingestor writes them) and snapshots into
 * a map per DID and path, and throws at the first sign of a stream that is not exactly once and
 * in order per repo: a record applied twice, a commit or snapshot not newer than what it already
 * applied for the DID, a create over a held record (a missed delete), an update or delete whose
 * `prev` is not what it holds (a missed or reordered update). Compare `repos()` with the ground
 * truth (test/support/ground-truth.ts) through `diffRepos`. Records it never saw created (a repo's
 * records from before the stream started) may be updated or deleted without complaint.
 */
export class ModelAppView {
  private readonly byDid = new Map<string, ModelRepo>()
  /** Every (did, path, cid, rev) ever applied. */
  private readonly applied = new Set<string>()

  apply(entry: StreamEntry): void {
    const data = parseData(entry)
    switch (entry.type) {
      case 'commit':
        return this.applyCommit(requireString(data, 'repo', entry), requireString(data, 'rev', entry), requireOps(data, entry))
      case 'account':
        this.repo(requireString(data, 'did', entry)).status = data.active === true ? 'active' : typeof data.status === 'string' ? data.status : 'inactive'
        return
      case 'identity':
      case 'sync':
        // Neither changes a record: what a #sync announces reaches workers as a snapshot.
        requireString(data, 'did', entry)
        return
    }
  }

  /**
   * Applies a snapshot: everything held for the DID older than the snapshot is replaced by the
   * snapshot's records, so what was deleted meanwhile disappears. A snapshot not newer than what
   * was applied for the DID is refused (MODEL_STALE), so everything held is older and all of it goes.
   */
  applySnapshot(did: string, snapshot: ModelSnapshot): void {
    const repo = this.repo(did)
    if (repo.rev !== '' && snapshot.rev <= repo.rev) throw stale(did, 'snapshot', snapshot.rev, repo.rev)
    const records = new Map<string, HeldRecord>()
    for (const { path, cid, record } of snapshot.records) {
      if (records.has(path)) throw new ModelAppViewError(ModelAppViewErrorCode.Duplicate, `${did} ${path}: twice in the snapshot at ${snapshot.rev}`, { did, path, rev: snapshot.rev })
      this.markApplied(did, path, cid, snapshot.rev)
      records.set(path, { cid, record, rev: snapshot.rev })
    }
    repo.records = records
    repo.rev = snapshot.rev
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
      repo = { rev: '', records: new Map(), status: null }
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

function parseData(entry: StreamEntry): Record<string, unknown> {
  let data: unknown
  try {
    data = JSON.parse(entry.data)
  } catch (cause) {
    throw new ModelAppViewError(ModelAppViewErrorCode.BadEntry, `${entry.type} entry seq ${entry.seq}: data is not JSON`, { seq: entry.seq }, { cause })
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw badEntry(entry, 'data is not an object')
  return data as Record<string, unknown>
}

function requireString(data: Record<string, unknown>, key: string, entry: StreamEntry): string {
  const value = data[key]
  if (typeof value !== 'string' || value === '') throw badEntry(entry, `\`${key}\` is not a non-empty string`)
  return value
}

function requireOps(data: Record<string, unknown>, entry: StreamEntry): CommitOpJson[] {
  if (!Array.isArray(data.ops)) throw badEntry(entry, '`ops` is not an array')
  return data.ops.map((raw: unknown, i): CommitOpJson => {
    const op = raw as Partial<CommitOpJson> | null
    if (typeof op !== 'object' || op === null || typeof op.path !== 'string' || !['create', 'update', 'delete'].includes(op.action as string)) throw badEntry(entry, `ops[${i}] is not {action, path}`)
    if (op.action !== 'delete' && typeof op.cid !== 'string') throw badEntry(entry, `ops[${i}] (${op.action} ${op.path}) has no cid`)
    return op as CommitOpJson
  })
}

function badEntry(entry: StreamEntry, reason: string): ModelAppViewError {
  return new ModelAppViewError(ModelAppViewErrorCode.BadEntry, `${entry.type} entry seq ${entry.seq}: ${reason}`, { seq: entry.seq })
}

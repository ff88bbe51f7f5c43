import type { SnapshotEndData } from '../protocol/snapshot-entry.js'
import type { SnapshotEntryReading } from './snapshot-entries.js'

/**
 * The rules of a stream's repo snapshots (docs/repo-sync.md, "Snapshot entries"), checked per
 * snapshot id in stream order:
 * - `malformed`: a snapshot entry whose data does not read (consumer/events.ts parseEntry);
 * - `begun-twice`: a begin for an id already begun (ids are unique per snapshot);
 * - `part-without-begin`, `end-without-begin`: a part or end for an id never begun;
 * - `after-end`: a part or end for an id already ended;
 * - `other-repo`: a part or end naming another DID than its begin;
 * - `part-repeated`: part k at or below one already written (each part exactly once);
 * - `part-skipped`: part k while an earlier part was due (parts 0..k-1 in order);
 * - `end-counts`: an end whose `parts` or `records` differ from the parts written;
 * - `too-many-open`: a begin while MAX_OPEN snapshots are open (not followed; see MAX_OPEN).
 * `part-repeated`, `part-skipped` and `end-counts` do not count for a snapshot ended
 * `complete: false`: it was abandoned, its end promises nothing about its parts.
 */
export type SnapshotRule = 'malformed' | 'begun-twice' | 'part-without-begin' | 'end-without-begin' | 'after-end' | 'other-repo' | 'part-repeated' | 'part-skipped' | 'end-counts' | 'too-many-open'

export interface SnapshotViolation {
  rule: SnapshotRule
  /** The snapshot id; null when the entry did not read. */
  id: string | null
  did: string | null
  /** The entry's seq (the shard's cursor when it was written; NaN when unreadable). */
  seq: number
  detail: string
}

/** What a stream's snapshot entries hold, and the rules they break. */
export interface SnapshotReport {
  /** Snapshot entries read: begins, record parts, ends. */
  entries: number
  begun: number
  /** Ended `complete: true`. */
  complete: number
  /** Ended `complete: false` (abandoned; a later snapshot of the DID follows). */
  abandoned: number
  /** Begun, not ended by the end of the stream. */
  open: number
  /** The ids of the first MAX_LISTED open snapshots. */
  openIds: string[]
  /** Record parts read, and the records they hold. */
  parts: number
  records: number
  /** The exact count, and the first MAX_LISTED violations in stream order (those of open snapshots last). */
  violations: { count: number; first: SnapshotViolation[] }
}

/**
 * Snapshots followed at once. A writer keeps one open per repo it resyncs (`--resync-concurrency`
 * at most, plus those a crash left, ended at its next start), so more means a broken stream. Over
 * the bound a begin is the violation `too-many-open` and is not followed: its parts and end then
 * show as `part-without-begin` and `end-without-begin`.
 */
const MAX_OPEN = 10_000
/** Ended ids remembered (to tell `after-end` and `begun-twice` apart from a first sight); the oldest is forgotten first, its id then reads as never begun. */
const MAX_ENDED = 10_000
/** Violations and open ids listed; counts stay exact beyond it. */
const MAX_LISTED = 100

interface OpenSnapshot {
  did: string
  /** The part due next: parts 0..next-1 came in order. */
  next: number
  parts: number
  records: number
  /** Problems that count unless the snapshot ends `complete: false`. */
  deferred: ViolationList
}

export class SnapshotChecker {
  private entries = 0
  private begun = 0
  private complete = 0
  private abandoned = 0
  private parts = 0
  private records = 0
  private readonly open = new Map<string, OpenSnapshot>()
  private readonly ended = new Set<string>()
  private readonly violations = new ViolationList()

  add(entry: SnapshotEntryReading): void {
    this.entries++
    if (entry.kind === 'malformed') return this.violations.add({ rule: 'malformed', id: null, did: null, seq: entry.seq, detail: entry.reason })
    const { data, seq } = entry
    const at = { id: data.id, did: data.did, seq }
    const open = this.open.get(data.id)
    if (data.phase === 'begin') {
      if (open !== undefined || this.ended.has(data.id)) return this.violations.add({ rule: 'begun-twice', ...at, detail: `snapshot ${data.id} begun again` })
      if (this.open.size >= MAX_OPEN) return this.violations.add({ rule: 'too-many-open', ...at, detail: `more than ${MAX_OPEN} snapshots open at once: not followed` })
      this.begun++
      this.open.set(data.id, { did: data.did, next: 0, parts: 0, records: 0, deferred: new ViolationList() })
      return
    }
    if (data.phase === 'records') {
      this.parts++
      this.records += data.ops.length
    }
    if (open === undefined) {
      const rule = this.ended.has(data.id) ? 'after-end' : data.phase === 'records' ? 'part-without-begin' : 'end-without-begin'
      return this.violations.add({ rule, ...at, detail: data.phase === 'records' ? `part ${data.part} of snapshot ${data.id}` : `end of snapshot ${data.id}` })
    }
    if (data.did !== open.did) this.violations.add({ rule: 'other-repo', ...at, detail: `snapshot ${data.id} of ${open.did} has a ${data.phase === 'records' ? 'part' : 'end'} of ${data.did}` })
    if (data.phase === 'records') {
      open.parts++
      open.records += data.ops.length
      if (data.part === open.next) open.next++
      else if (data.part < open.next) open.deferred.add({ rule: 'part-repeated', ...at, detail: `part ${data.part} of snapshot ${data.id} again, after part ${open.next - 1}` })
      else {
        open.deferred.add({ rule: 'part-skipped', ...at, detail: `part ${data.part} of snapshot ${data.id} while part ${open.next} was due` })
        open.next = data.part + 1
      }
      return
    }
    this.close(data.id)
    if (!data.complete) {
      this.abandoned++
      return
    }
    this.complete++
    this.violations.addAll(open.deferred)
    if (!countsMatch(data, open)) {
      this.violations.add({
        rule: 'end-counts',
        ...at,
        detail: `end of snapshot ${data.id} says ${String(data.parts)} parts, ${String(data.records)} records; ${open.parts} parts with ${open.records} records were written`,
      })
    }
  }

  report(): SnapshotReport {
    const violations = new ViolationList()
    violations.addAll(this.violations)
    for (const open of this.open.values()) violations.addAll(open.deferred)
    return {
      entries: this.entries,
      begun: this.begun,
      complete: this.complete,
      abandoned: this.abandoned,
      open: this.open.size,
      openIds: [...this.open.keys()].slice(0, MAX_LISTED),
      parts: this.parts,
      records: this.records,
      violations: violations.result(),
    }
  }

  private close(id: string): void {
    this.open.delete(id)
    this.ended.add(id)
    if (this.ended.size > MAX_ENDED) this.ended.delete(this.ended.values().next().value!)
  }
}

function countsMatch(end: SnapshotEndData, written: OpenSnapshot): boolean {
  return end.parts === written.parts && end.records === written.records
}

/** Violations: an exact count, the first MAX_LISTED kept. */
class ViolationList {
  private count = 0
  private readonly first: SnapshotViolation[] = []

  add(violation: SnapshotViolation): void {
    this.count++
    if (this.first.length < MAX_LISTED) this.first.push(violation)
  }

  addAll(other: ViolationList): void {
    this.count += other.count
    this.first.push(...other.first.slice(0, MAX_LISTED - this.first.length))
  }

  result(): SnapshotReport['violations'] {
    return { count: this.count, first: [...this.first] }
  }
}

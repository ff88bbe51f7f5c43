import type { Redis, Cluster } from 'ioredis'
import { SnapshotChecker, type SnapshotReport } from './snapshot-check.js'
import { snapshotEntryOf } from './snapshot-entries.js'

/** Entries read per XRANGE page: memory stays bounded however long the streams are. */
const PAGE_SIZE = 1000
/** Seq ranges kept per kind of difference (counts stay exact beyond it). */
const MAX_RANGES = 100

/** Seqs as inclusive ranges, the first MAX_RANGES of them, with the exact count of seqs. */
export interface SeqRanges {
  count: number
  ranges: [number, number][]
}

export interface CompareSide {
  stream: string
  /** Entries read, relay and snapshot entries together. */
  entries: number
  /** The lowest and highest seq of its relay entries compared (null: none). */
  firstSeq: number | null
  lastSeq: number | null
  /** Relay entries whose seq is not above the one compared before them (another seq space, a duplicate, a held event released late): left out of the comparison. */
  outOfOrder: number
  /** Its repo snapshot entries (never compared: their seqs repeat) and the rules they break. */
  snapshots: SnapshotReport
}

/**
 * Two streams side by side, by seq: e.g. ours (a shadow run) and the legacy consumer's. Outside
 * the seq range both cover (one started or stopped earlier) a stream's extra entries are only
 * reported; inside it, a seq one stream has and the other lacks, another type, or commit ops that
 * differ (by action and path) is a disagreement. Records and CIDs are compared only where both
 * carry them; `recordsOnlyIn*` counts the op records one carries and the other omits (the legacy
 * consumer drops them).
 */
export interface CompareResult {
  a: CompareSide
  b: CompareSide
  /** The seqs both streams cover: [max of the first seqs, min of the last seqs]; null when disjoint or one is empty. */
  overlap: [number, number] | null
  /** Inside the overlap: a disagreement. */
  onlyInA: SeqRanges
  onlyInB: SeqRanges
  /** Outside the overlap: coverage, not a disagreement. */
  outsideOverlap: { a: number; b: number }
  /**
   * With repoState, inside the overlap: commits and #syncs one stream lacks and the other has. Not
   * a disagreement: per-repo state withholds #sync, stale commits, commits of inactive or
   * desynchronized repos and those a snapshot covers, and publishes a held commit after later seqs
   * (then it is out of seq order, not compared). Without repoState they count in onlyInA/onlyInB.
   */
  withheldFromA: SeqRanges
  withheldFromB: SeqRanges
  typeDiffers: SeqRanges
  /** Commits whose ops differ by action or path, or whose repo differs; other events whose did differs. */
  dataDiffers: SeqRanges
  /** Both carry a record (or CID) for the op, and they differ. */
  recordDiffers: SeqRanges
  recordsOnlyInA: number
  recordsOnlyInB: number
  repoState: boolean
  /** No disagreement inside the overlap. */
  agree: boolean
  /**
   * They agree; and without repoState no snapshot entry in either stream, with it no snapshot rule
   * broken (a snapshot still open is not: a live stream has them).
   */
  ok: boolean
}

export interface CompareOptions {
  /** The streams were written by `ingest --repo-state` (one or both): commits and #syncs one lacks are `withheld`, snapshot entries are checked. */
  repoState?: boolean
}

type Reader = Pick<Redis | Cluster, 'xrange'>

interface Entry {
  seq: number
  type: string
  data: Record<string, unknown> | null
}

/**
 * Both streams in one merge by seq. The overlap needs no reading ahead: an entry is inside it
 * when it is at or above both streams' first seqs and the other stream still has entries (its
 * last seq is above this one, as the merge goes up).
 */
export async function compareStreams(redis: Reader, streamA: string, streamB: string, options: CompareOptions = {}): Promise<CompareResult> {
  const repoState = options.repoState === true
  const a = new OrderedReader(redis, streamA)
  const b = new OrderedReader(redis, streamB)
  const onlyInA = new RangeCollector()
  const onlyInB = new RangeCollector()
  const withheldFromA = new RangeCollector()
  const withheldFromB = new RangeCollector()
  const typeDiffers = new RangeCollector()
  const dataDiffers = new RangeCollector()
  const recordDiffers = new RangeCollector()
  const outsideOverlap = { a: 0, b: 0 }
  let recordsOnlyInA = 0
  let recordsOnlyInB = 0
  let left = await a.next()
  let right = await b.next()
  const lowest = left !== null && right !== null ? Math.max(left.seq, right.seq) : null
  /** An entry one stream has and the other, still going, lacks: withheld with repoState when per-repo state may withhold it. */
  const onlyInOne = (entry: Entry, otherGoing: boolean, only: RangeCollector, withheldFromOther: RangeCollector): boolean => {
    if (lowest === null || entry.seq < lowest || !otherGoing) return false
    if (repoState && (entry.type === 'commit' || entry.type === 'sync')) withheldFromOther.add(entry.seq)
    else only.add(entry.seq)
    return true
  }
  while (left !== null || right !== null) {
    if (right === null || (left !== null && left.seq < right.seq)) {
      if (!onlyInOne(left!, right !== null, onlyInA, withheldFromB)) outsideOverlap.a++
      left = await a.next()
    } else if (left === null || right.seq < left.seq) {
      if (!onlyInOne(right, left !== null, onlyInB, withheldFromA)) outsideOverlap.b++
      right = await b.next()
    } else {
      const difference = compareEntries(left, right)
      if (difference.type) typeDiffers.add(left.seq)
      if (difference.data) dataDiffers.add(left.seq)
      if (difference.record) recordDiffers.add(left.seq)
      recordsOnlyInA += difference.recordsOnlyInA
      recordsOnlyInB += difference.recordsOnlyInB
      left = await a.next()
      right = await b.next()
    }
  }
  const overlap = a.firstSeq !== null && b.firstSeq !== null ? ([Math.max(a.firstSeq, b.firstSeq), Math.min(a.lastSeq!, b.lastSeq!)] as [number, number]) : null
  const result = {
    a: a.side(),
    b: b.side(),
    overlap,
    onlyInA: onlyInA.result(),
    onlyInB: onlyInB.result(),
    outsideOverlap,
    withheldFromA: withheldFromA.result(),
    withheldFromB: withheldFromB.result(),
    typeDiffers: typeDiffers.result(),
    dataDiffers: dataDiffers.result(),
    recordDiffers: recordDiffers.result(),
    recordsOnlyInA,
    recordsOnlyInB,
    repoState,
  }
  const agree = [result.onlyInA, result.onlyInB, result.typeDiffers, result.dataDiffers, result.recordDiffers].every((ranges) => ranges.count === 0)
  const snapshotsOk = [result.a.snapshots, result.b.snapshots].every((snapshots) => (repoState ? snapshots.violations.count === 0 : snapshots.entries === 0))
  return { ...result, agree, ok: agree && snapshotsOk }
}

/** What two entries with the same seq disagree on. */
function compareEntries(a: Entry, b: Entry): { type: boolean; data: boolean; record: boolean; recordsOnlyInA: number; recordsOnlyInB: number } {
  const same = { type: false, data: false, record: false, recordsOnlyInA: 0, recordsOnlyInB: 0 }
  if (a.type !== b.type) return { ...same, type: true }
  if (a.data === null || b.data === null) return { ...same, data: a.data !== b.data }
  if (a.type !== 'commit') return { ...same, data: a.data.did !== b.data.did }
  const opsA = ops(a.data)
  const opsB = ops(b.data)
  const key = (op: Op): string => JSON.stringify([op.action, op.path])
  if (a.data.repo !== b.data.repo || opsA.length !== opsB.length || opsA.some((op, i) => key(op) !== key(opsB[i]!))) return { ...same, data: true }
  let record = false
  let recordsOnlyInA = 0
  let recordsOnlyInB = 0
  opsA.forEach((opA, i) => {
    const opB = opsB[i]!
    const hasA = opA.record !== undefined && opA.record !== null
    const hasB = opB.record !== undefined && opB.record !== null
    if (hasA && !hasB) recordsOnlyInA++
    else if (hasB && !hasA) recordsOnlyInB++
    else if (hasA && hasB && JSON.stringify(opA.record) !== JSON.stringify(opB.record)) record = true
    if (typeof opA.cid === 'string' && typeof opB.cid === 'string' && opA.cid !== opB.cid) record = true
  })
  return { ...same, record, recordsOnlyInA, recordsOnlyInB }
}

interface Op {
  action?: unknown
  path?: unknown
  cid?: unknown
  record?: unknown
}

function ops(data: Record<string, unknown>): Op[] {
  return Array.isArray(data.ops) ? (data.ops as Op[]) : []
}

/**
 * A stream's relay entries in ID order, a page at a time; those whose seq does not increase are
 * counted and skipped; snapshot entries go to the snapshot check and are skipped.
 */
class OrderedReader {
  firstSeq: number | null = null
  lastSeq: number | null = null
  private read = 0
  private outOfOrder = 0
  private readonly snapshots = new SnapshotChecker()
  private page: (readonly string[])[] = []
  private after = '-'
  private done = false

  constructor(
    private readonly redis: Reader,
    private readonly stream: string,
  ) {}

  async next(): Promise<Entry | null> {
    for (;;) {
      if (this.page.length === 0) {
        if (this.done) return null
        const raw = await this.redis.xrange(this.stream, this.after, '+', 'COUNT', PAGE_SIZE)
        if (raw.length < PAGE_SIZE) this.done = true
        if (raw.length > 0) this.after = `(${raw[raw.length - 1]![0]}`
        this.page = raw.map(([, fields]) => fields)
        if (this.page.length === 0) return null
      }
      const fields = this.page.shift()!
      this.read++
      const snapshot = snapshotEntryOf(fields)
      if (snapshot !== null) {
        this.snapshots.add(snapshot)
        continue
      }
      const entry = parseEntry(fields)
      if (entry.seq < 0 || (this.lastSeq !== null && entry.seq <= this.lastSeq)) {
        this.outOfOrder++
        continue
      }
      this.firstSeq ??= entry.seq
      this.lastSeq = entry.seq
      return entry
    }
  }

  side(): CompareSide {
    return { stream: this.stream, entries: this.read, firstSeq: this.firstSeq, lastSeq: this.lastSeq, outOfOrder: this.outOfOrder, snapshots: this.snapshots.report() }
  }
}

/** An entry's type, seq and data by name (ours and the legacy consumer's share the names). */
function parseEntry(fields: readonly string[]): Entry {
  const named = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) named.set(fields[i]!, fields[i + 1]!)
  let data: Record<string, unknown> | null = null
  try {
    const parsed: unknown = JSON.parse(named.get('data') ?? 'null')
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) data = parsed as Record<string, unknown>
  } catch {
    data = null
  }
  const seq = Number(named.get('seq'))
  return { seq: Number.isSafeInteger(seq) ? seq : -1, type: named.get('type') ?? '', data }
}

/** Seqs added in increasing order, merged into ranges; bounded. */
class RangeCollector {
  private count = 0
  private readonly ranges: [number, number][] = []

  add(seq: number): void {
    this.count++
    const last = this.ranges[this.ranges.length - 1]
    if (last !== undefined && last[1] + 1 === seq) last[1] = seq
    else if (this.ranges.length < MAX_RANGES) this.ranges.push([seq, seq])
  }

  result(): SeqRanges {
    return { count: this.count, ranges: this.ranges }
  }
}

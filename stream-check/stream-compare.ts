import type { Redis, Cluster } from 'ioredis'

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
  entries: number
  firstSeq: number | null
  lastSeq: number | null
  /** Entries whose seq is not above the entry before them (another seq space, a duplicate): left out of the comparison. */
  outOfOrder: number
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
  typeDiffers: SeqRanges
  /** Commits whose ops differ by action or path, or whose repo differs; other events whose did differs. */
  dataDiffers: SeqRanges
  /** Both carry a record (or CID) for the op, and they differ. */
  recordDiffers: SeqRanges
  recordsOnlyInA: number
  recordsOnlyInB: number
  /** No disagreement inside the overlap. */
  ok: boolean
}

type Reader = Pick<Redis | Cluster, 'xrange' | 'xrevrange'>

interface Entry {
  seq: number
  type: string
  data: Record<string, unknown> | null
}

export async function compareStreams(redis: Reader, streamA: string, streamB: string): Promise<CompareResult> {
  const [edgesA, edgesB] = await Promise.all([edges(redis, streamA), edges(redis, streamB)])
  const overlap = edgesA.first !== null && edgesB.first !== null && edgesA.last !== null && edgesB.last !== null ? ([Math.max(edgesA.first, edgesB.first), Math.min(edgesA.last, edgesB.last)] as [number, number]) : null
  const inOverlap = (seq: number): boolean => overlap !== null && overlap[0] <= overlap[1] && seq >= overlap[0] && seq <= overlap[1]
  const a = new OrderedReader(redis, streamA)
  const b = new OrderedReader(redis, streamB)
  const onlyInA = new RangeCollector()
  const onlyInB = new RangeCollector()
  const typeDiffers = new RangeCollector()
  const dataDiffers = new RangeCollector()
  const recordDiffers = new RangeCollector()
  const outsideOverlap = { a: 0, b: 0 }
  let recordsOnlyInA = 0
  let recordsOnlyInB = 0
  let left = await a.next()
  let right = await b.next()
  while (left !== null || right !== null) {
    if (right === null || (left !== null && left.seq < right.seq)) {
      if (inOverlap(left!.seq)) onlyInA.add(left!.seq)
      else outsideOverlap.a++
      left = await a.next()
    } else if (left === null || right.seq < left.seq) {
      if (inOverlap(right.seq)) onlyInB.add(right.seq)
      else outsideOverlap.b++
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
  const result = {
    a: { stream: streamA, entries: a.read, firstSeq: edgesA.first, lastSeq: edgesA.last, outOfOrder: a.outOfOrder },
    b: { stream: streamB, entries: b.read, firstSeq: edgesB.first, lastSeq: edgesB.last, outOfOrder: b.outOfOrder },
    overlap,
    onlyInA: onlyInA.result(),
    onlyInB: onlyInB.result(),
    outsideOverlap,
    typeDiffers: typeDiffers.result(),
    dataDiffers: dataDiffers.result(),
    recordDiffers: recordDiffers.result(),
    recordsOnlyInA,
    recordsOnlyInB,
  }
  const ok = [result.onlyInA, result.onlyInB, result.typeDiffers, result.dataDiffers, result.recordDiffers].every((ranges) => ranges.count === 0)
  return { ...result, ok }
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

async function edges(redis: Reader, stream: string): Promise<{ first: number | null; last: number | null }> {
  const [[first], [last]] = await Promise.all([redis.xrange(stream, '-', '+', 'COUNT', 1), redis.xrevrange(stream, '+', '-', 'COUNT', 1)])
  return { first: first === undefined ? null : parseEntry(first[1]).seq, last: last === undefined ? null : parseEntry(last[1]).seq }
}

/** A stream's entries in ID order, a page at a time; entries whose seq does not increase are counted and skipped. */
class OrderedReader {
  read = 0
  outOfOrder = 0
  private page: Entry[] = []
  private after = '-'
  private done = false
  private lastSeq = -1

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
        this.page = raw.map(([, fields]) => parseEntry(fields))
        if (this.page.length === 0) return null
      }
      const entry = this.page.shift()!
      this.read++
      if (!(entry.seq > this.lastSeq)) {
        this.outOfOrder++
        continue
      }
      this.lastSeq = entry.seq
      return entry
    }
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

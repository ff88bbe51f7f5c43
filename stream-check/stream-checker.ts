import { isDeepStrictEqual } from 'node:util'
import { repoStateKeyOf } from '../common/contract.js'
import type { RedisClient } from '../common/redis-client.js'
import { decodeEvent } from '../protocol/events.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { openFixture } from '../fixture-file/index.js'
import { isSequenced, toStreamEntry, type StreamEntry } from '../protocol/stream-entry.js'
import { openRedisClient } from '../common/redis-open.js'
import { didOf } from './entry-did.js'
import { countAwaitingResync } from './repo-states.js'
import { SnapshotChecker, type SnapshotReport } from './snapshot-check.js'
import { snapshotEntryOf } from './snapshot-entries.js'

/**
 * Jepsen-style check of a Redis stream against what should be in it: every expected event
 * (by seq) is delivered once, lost, duplicated, out of order or mismatched; anything else in
 * the stream is unexpected. Repo snapshot entries are not relay events: they are checked on
 * their own (snapshot-check.ts), and only a stream written with `--repo-state` may hold them.
 */
export interface StreamCheckResult {
  expected: number
  /** Expected seqs present at least once (delivered + lost.length + withheld seqs === expected). */
  delivered: number
  lost: number[]
  /** Expected seqs present more than once. */
  duplicated: number[]
  /** Expected seqs whose first copy comes after an event expected later (with repoState: unless `late`). */
  outOfOrder: number[]
  /** Expected seqs whose first copy has another type or data, or fields not in contract order. */
  mismatched: number[]
  /** Seqs in the stream that were not expected (NaN for an entry without a readable seq). */
  unexpected: number[]
  /**
   * With repoState, expected commits and #syncs missing from the stream, not counted as lost: the
   * per-repo rules withhold #sync always, and commits that are stale, of an inactive account, of a
   * desynchronized repo, or held while it resyncs and covered by its snapshot. Empty without.
   */
  withheld: { commits: number[]; syncs: number[] }
  /**
   * With repoState, commits whose first copy comes after an event expected later but after every
   * earlier commit of their repo: held while the repo resynced, published after its snapshot.
   */
  late: number[]
  /** The stream's repo snapshot entries and the rules they break. */
  snapshots: SnapshotReport
  /** With repoState, repos whose stored state is desynchronized or resyncing (read before the stream): their commits are still withheld. 0 without. */
  awaitingResync: number
  /** Entries read, relay and snapshot entries together. */
  entries: number
  /**
   * Nothing lost, duplicated, out of order, mismatched or unexpected; and without repoState no
   * snapshot entry, with it every snapshot ended and no snapshot rule broken.
   */
  ok: boolean
}

export interface StreamCheckOptions {
  /**
   * The stream was written by `ingest --repo-state`: commits and #syncs it lacks are `withheld`,
   * not lost; a commit after later seqs but in order within its repo is `late`, not out of order;
   * snapshot entries are expected, and must follow their rules. Duplicates still fail.
   */
  repoState?: boolean
  /** With repoState, the per-repo state hash beside the stream (`<stream>:repos`, colocated when sharded): its repos awaiting a resync are counted. */
  repoStates?: string
}

/** Entries per XRANGE page: bounds the checker's per-request memory on big streams. */
const PAGE_SIZE = 1000

export async function checkStream(options: { redisUrl: string; stream: string; expected: StreamEntry[]; repoState?: boolean }): Promise<StreamCheckResult> {
  const redis = await openRedisClient(options.redisUrl)
  try {
    return await checkStreamWith(redis, options.stream, options.expected, { repoState: options.repoState, repoStates: repoStateKeyOf(options.stream) })
  } finally {
    redis.disconnect()
  }
}

/** checkStream() over a connection the caller already has (e.g. a Cluster client for several shard streams). */
export async function checkStreamWith(reader: RedisClient, stream: string, expected: StreamEntry[], options: StreamCheckOptions = {}): Promise<StreamCheckResult> {
  const repoState = options.repoState === true
  // Read before the stream: a repo whose resync ended after this read has its released events in the stream read after it.
  const awaitingResync = repoState && options.repoStates !== undefined ? await countAwaitingResync(reader, options.repoStates) : 0
  const indexBySeq = new Map<number, number>()
  expected.forEach((entry, index) => indexBySeq.set(entry.seq, index))
  const copies = new Map<number, number>()
  const mismatched: number[] = []
  const outOfOrder: number[] = []
  const late: number[] = []
  const unexpected: number[] = []
  const snapshots = new SnapshotChecker()
  /** With repoState: the index of each repo's latest commit seen. */
  const lastCommitOfRepo = new Map<string | null, number>()
  let highestIndexSeen = -1
  let entries = 0

  for await (const fields of readStream(reader, stream)) {
    entries++
    const snapshot = snapshotEntryOf(fields)
    if (snapshot !== null) {
      snapshots.add(snapshot)
      continue
    }
    const actual = parseEntry(fields)
    const index = actual === null ? undefined : indexBySeq.get(actual.seq)
    if (actual === null || index === undefined) {
      unexpected.push(actual?.seq ?? Number.NaN)
      continue
    }
    const seen = (copies.get(actual.seq) ?? 0) + 1
    copies.set(actual.seq, seen)
    if (seen > 1) continue // duplicates are judged by count only; the first copy is the delivery
    const wanted = expected[index]!
    if (!actual.inContractOrder || !sameEntry(actual, wanted)) mismatched.push(actual.seq)
    const repo = repoState && wanted.type === 'commit' ? didOf(wanted) : undefined
    if (index > highestIndexSeen) highestIndexSeen = index
    else if (repo !== undefined && index > (lastCommitOfRepo.get(repo) ?? -1)) late.push(actual.seq)
    else outOfOrder.push(actual.seq)
    if (repo !== undefined) lastCommitOfRepo.set(repo, Math.max(index, lastCommitOfRepo.get(repo) ?? -1))
  }

  const lost: number[] = []
  const duplicated: number[] = []
  const withheld: StreamCheckResult['withheld'] = { commits: [], syncs: [] }
  for (const entry of expected) {
    const count = copies.get(entry.seq) ?? 0
    if (count === 0) {
      if (repoState && entry.type === 'commit') withheld.commits.push(entry.seq)
      else if (repoState && entry.type === 'sync') withheld.syncs.push(entry.seq)
      else lost.push(entry.seq)
    }
    if (count > 1) duplicated.push(entry.seq)
  }
  const report = snapshots.report()
  const snapshotsOk = repoState ? report.open === 0 && report.violations.count === 0 : report.entries === 0
  return {
    expected: expected.length,
    delivered: expected.length - lost.length - withheld.commits.length - withheld.syncs.length,
    lost,
    duplicated,
    outOfOrder,
    mismatched,
    unexpected,
    withheld,
    late,
    snapshots: report,
    awaitingResync,
    entries,
    ok: snapshotsOk && lost.length + duplicated.length + outOfOrder.length + mismatched.length + unexpected.length === 0,
  }
}

/** Field lists of every entry in stream order, a page at a time. */
async function* readStream(reader: RedisClient, stream: string): AsyncGenerator<string[]> {
  let start = '-'
  for (;;) {
    const page = await reader.xrange(stream, start, '+', 'COUNT', PAGE_SIZE)
    for (const [, fields] of page) yield fields
    if (page.length < PAGE_SIZE) return
    start = `(${page[page.length - 1]![0]}` // exclusive start (Redis >= 6.2)
  }
}

interface ActualEntry extends StreamEntry {
  inContractOrder: boolean
}

/** Reads type/data/seq by name; notes whether they sit where legacy workers read them (1, 3, 5). */
function parseEntry(fields: string[]): ActualEntry | null {
  const values = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i]!, fields[i + 1]!)
  const seq = Number(values.get('seq'))
  if (!Number.isSafeInteger(seq)) return null
  return {
    type: values.get('type') as StreamEntry['type'],
    data: values.get('data') ?? '',
    seq,
    inContractOrder: fields.length === 6 && fields[0] === 'type' && fields[2] === 'data' && fields[4] === 'seq',
  }
}

/** Same type, and data equal as JSON (key order is not part of the contract). */
function sameEntry(actual: StreamEntry, expected: StreamEntry): boolean {
  if (actual.type !== expected.type) return false
  if (actual.data === expected.data) return true
  try {
    return isDeepStrictEqual(JSON.parse(actual.data), JSON.parse(expected.data))
  } catch {
    return false
  }
}

/**
 * The entries an ingestor must write for a fixture, in order: every sequenced frame that
 * decodes, except undecodable frames (they go to the dead-letter stream), seqs not above the
 * previous one (the ingestor skips backwards/repeated seqs) and `skipSeqs` (e.g. frames a
 * replay fault swallowed, from the replay server's status).
 */
export async function expectedEntriesFromFixture(path: string, options: { skipSeqs?: Set<number> } = {}): Promise<StreamEntry[]> {
  const reader = await openFixture(path)
  const entries: StreamEntry[] = []
  let lastSeq = -1
  try {
    for await (const frame of reader.frames()) {
      let event
      try {
        event = decodeEvent(frame.bytes)
      } catch (err) {
        if (isFrameDecodeError(err)) continue
        throw err
      }
      if (!isSequenced(event) || event.seq <= lastSeq || options.skipSeqs?.has(event.seq) === true) continue
      entries.push(toStreamEntry(event))
      lastSeq = event.seq
    }
  } finally {
    await reader.close()
  }
  return entries
}

/** "3 (1-2, 7)": a count and compact ranges of the first few seqs, for one-line reports. */
export function describeSeqs(seqs: readonly number[], limit = 5): string {
  if (seqs.length === 0) return '0'
  const sorted = [...new Set(seqs)].sort((a, b) => a - b)
  const ranges: string[] = []
  let from = sorted[0]!
  let to = from
  for (const seq of sorted.slice(1).concat(Number.NaN)) {
    if (seq === to + 1) {
      to = seq
      continue
    }
    ranges.push(from === to ? String(from) : `${from}-${to}`)
    if (ranges.length === limit) break
    from = to = seq
  }
  const more = ranges.length === limit && sorted[sorted.length - 1] !== to ? ', ...' : ''
  return `${seqs.length} (${ranges.join(', ')}${more})`
}

import { isDeepStrictEqual } from 'node:util'
import type { Redis } from 'ioredis'
import { decodeEvent } from '../protocol/events.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { openFixture } from '../fixture-file/index.js'
import { isSequenced, toStreamEntry, type StreamEntry } from '../protocol/stream-entry.js'
import { openRedisClient } from '../common/redis-open.js'

/**
 * Jepsen-style check of a Redis stream against what should be in it: every expected event
 * (by seq) is delivered once, lost, duplicated, out of order or mismatched; anything else in
 * the stream is unexpected.
 */
export interface StreamCheckResult {
  expected: number
  /** Expected seqs present at least once (delivered + lost.length === expected). */
  delivered: number
  lost: number[]
  /** Expected seqs present more than once. */
  duplicated: number[]
  /** Expected seqs whose first copy comes after an event expected later. */
  outOfOrder: number[]
  /** Expected seqs whose first copy has another type or data, or fields not in contract order. */
  mismatched: number[]
  /** Seqs in the stream that were not expected (NaN for an entry without a readable seq). */
  unexpected: number[]
  ok: boolean
}

/** Entries per XRANGE page: bounds the checker's per-request memory on big streams. */
const PAGE_SIZE = 1000

export async function checkStream(options: { redisUrl: string; stream: string; expected: StreamEntry[] }): Promise<StreamCheckResult> {
  const redis = await openRedisClient(options.redisUrl)
  try {
    return await checkStreamWith(redis, options.stream, options.expected)
  } finally {
    redis.disconnect()
  }
}

/** What a stream is read with: an open ioredis client or Cluster, which the caller closes. */
export type StreamReader = Pick<Redis, 'xrange'>

/** checkStream() over a connection the caller already has (e.g. a Cluster client for several shard streams). */
export async function checkStreamWith(reader: StreamReader, stream: string, expected: StreamEntry[]): Promise<StreamCheckResult> {
  const indexBySeq = new Map<number, number>()
  expected.forEach((entry, index) => indexBySeq.set(entry.seq, index))
  const copies = new Map<number, number>()
  const mismatched: number[] = []
  const outOfOrder: number[] = []
  const unexpected: number[] = []
  let highestIndexSeen = -1

  for await (const fields of readStream(reader, stream)) {
    const actual = parseEntry(fields)
    const index = actual === null ? undefined : indexBySeq.get(actual.seq)
    if (actual === null || index === undefined) {
      unexpected.push(actual?.seq ?? Number.NaN)
      continue
    }
    const seen = (copies.get(actual.seq) ?? 0) + 1
    copies.set(actual.seq, seen)
    if (seen > 1) continue // duplicates are judged by count only; the first copy is the delivery
    if (!actual.inContractOrder || !sameEntry(actual, expected[index]!)) mismatched.push(actual.seq)
    if (index < highestIndexSeen) outOfOrder.push(actual.seq)
    else highestIndexSeen = index
  }

  const lost: number[] = []
  const duplicated: number[] = []
  for (const entry of expected) {
    const count = copies.get(entry.seq) ?? 0
    if (count === 0) lost.push(entry.seq)
    if (count > 1) duplicated.push(entry.seq)
  }
  return {
    expected: expected.length,
    delivered: expected.length - lost.length,
    lost,
    duplicated,
    outOfOrder,
    mismatched,
    unexpected,
    ok: lost.length + duplicated.length + outOfOrder.length + mismatched.length + unexpected.length === 0,
  }
}

/** Field lists of every entry in stream order, a page at a time. */
async function* readStream(reader: StreamReader, stream: string): AsyncGenerator<string[]> {
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

import type { BlockVerification } from '../protocol/car.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { decodeEvent, type SequencedEvent } from '../protocol/events.js'
import { shardOfDid } from '../protocol/shard.js'
import { RecordJsonScratch, writeEntryJson } from '../protocol/entry-json.js'
import { JsonBytes } from '../protocol/json-bytes.js'
import { isSequenced, type RelayEntryType } from '../protocol/stream-entry.js'
import { EncodedEntry } from './encoded-entry.js'
import { EVENT_TYPES, EventFilter, type EventFilterSpec } from './event-filter.js'
import { IngestorErrorCode } from './errors.js'
import { repoFactsOf, type RepoFacts } from './repo-facts.js'

/** What the decoder made of one frame. */
export type DecodeResult =
  | {
      kind: 'entry'
      entry: EncodedEntry
      /** event `time` in ms since epoch, for lag; null if unparseable */
      timeMs: number | null
      /** commit ops removed by the filter (absent: none) */
      filteredOps?: number
      /** the stream it goes to: shardOfDid of its repo (0 without shards) */
      shard: number
      /** What the per-repo rules read of the event (DecodeSettings.repoFacts). */
      repo?: RepoFacts
    }
  | SkipResult
  | FilteredResult
  | BadResult
/** A frame that is not published: unknown/deprecated `t` (and #info/error if one got here). */
export type SkipResult = { kind: 'skip'; t: string; seq: number | null }
/** A well-formed event the filter drops (its type, or a commit with no matching op left); its seq still moves the cursor. */
export type FilteredResult = { kind: 'filtered'; seq: number; /** commit ops removed */ ops: number; /** the per-repo rules still read it (DecodeSettings.repoFacts) */ repo?: RepoFacts }
/**
 * Goes to the dead-letter stream with its raw bytes: malformed, or with `decoded` a frame that
 * decoded but failed --verify (its seq is as trustworthy as any well-formed frame's: I15).
 */
export type BadResult = { kind: 'bad'; seq: number | null; code: string; message: string; decoded?: true }

export interface DecodeSettings {
  verifyBlocks: BlockVerification
  /** Absent or null: every event is published as decoded. */
  filter?: EventFilterSpec | null
  /** Streams events are split into by repo DID (protocol/shard.ts). Absent: 1. */
  shards?: number
  /** Hand each event's RepoFacts beside its result (per-repo state is on). */
  repoFacts?: boolean
}

/**
 * A decoded batch as it crosses the worker boundary, in transferable buffers rather than one
 * cloned object per frame: the entries' JSON, UTF-8, back to back in `json`, and per frame
 * ENTRY_FIELDS numbers in `entries` (see decodeBatch); frames without an entry are in `others`.
 */
export interface EncodedBatch {
  json: ArrayBuffer
  entries: Float64Array
  others: { index: number; result: SkipResult | FilteredResult | BadResult }[]
  /** With DecodeSettings.repoFacts: the facts of each entry frame (the filtered ones carry theirs in `others`). */
  facts: { index: number; facts: RepoFacts }[]
}

/** Per frame in EncodedBatch.entries: end of its JSON (-1: no entry), seq, time ms (NaN: none), index in EVENT_TYPES, ops filtered out, shard. */
const ENTRY_FIELDS = 6

/** Records' JSON while a frame decodes; reused by every batch of this thread (decoding is synchronous). */
const scratch = new RecordJsonScratch()

/** Decodes frames [offsets[i], offsets[i+1]) of `packed` (which may be longer). Never throws: every failure becomes a `bad` result. */
export function decodeBatch(packed: Uint8Array, offsets: readonly number[], settings: DecodeSettings): EncodedBatch {
  const count = offsets.length - 1
  const json = new JsonBytes(offsets[count]! - offsets[0]!)
  const entries = new Float64Array(count * ENTRY_FIELDS)
  const others: EncodedBatch['others'] = []
  const facts: EncodedBatch['facts'] = []
  const filter = settings.filter ? new EventFilter(settings.filter) : null
  for (let i = 0; i < count; i++) {
    const result = decodeOne(packed.subarray(offsets[i], offsets[i + 1]), settings.verifyBlocks, filter, settings.shards ?? 1, settings.repoFacts === true, json, scratch)
    const at = i * ENTRY_FIELDS
    if (result.kind === 'entry') {
      const { type, seq } = result
      entries[at] = json.length
      entries[at + 1] = seq
      entries[at + 2] = result.timeMs ?? Number.NaN
      entries[at + 3] = EVENT_TYPES.indexOf(type)
      entries[at + 4] = result.filteredOps
      entries[at + 5] = result.shard
      if (result.repo !== undefined) facts.push({ index: i, facts: result.repo })
    } else {
      entries[at] = -1
      others.push({ index: i, result })
    }
  }
  return { json: json.bytes.buffer as ArrayBuffer, entries, others, facts }
}

/** The batch's results, entries as views into its JSON buffer. */
export function unpackBatch(batch: EncodedBatch): DecodeResult[] {
  const { json, entries } = batch
  const results = new Array<DecodeResult>(entries.length / ENTRY_FIELDS)
  for (const { index, result } of batch.others) results[index] = result
  let start = 0
  for (let i = 0; i < results.length; i++) {
    const at = i * ENTRY_FIELDS
    const end = entries[at]!
    if (end < 0) continue
    const timeMs = entries[at + 2]!
    const filteredOps = entries[at + 4]!
    const entry = new EncodedEntry(EVENT_TYPES[entries[at + 3]!]!, entries[at + 1]!, Buffer.from(json, start, end - start))
    const result: Extract<DecodeResult, { kind: 'entry' }> = { kind: 'entry', entry, timeMs: Number.isNaN(timeMs) ? null : timeMs, shard: entries[at + 5]! }
    if (filteredOps > 0) result.filteredOps = filteredOps
    results[i] = result
    start = end
  }
  for (const { index, facts } of batch.facts) (results[index] as Extract<DecodeResult, { kind: 'entry' }>).repo = facts
  return results
}

/** Decodes a batch on the calling thread (no worker, or a worker failed). */
export function decodeInline(frames: readonly Uint8Array[], settings: DecodeSettings): DecodeResult[] {
  const offsets = [0]
  for (const frame of frames) offsets.push(offsets[offsets.length - 1]! + frame.byteLength)
  const packed = Buffer.concat(frames)
  return unpackBatch(decodeBatch(packed, offsets, settings))
}

/**
 * Whether a frame decodes as the decoder will decode it (the same checks), on the calling
 * thread. For the rare frame whose seq must be trusted before the decoder sees it (I15).
 */
export function frameDecodes(bytes: Uint8Array, verifyBlocks: BlockVerification): boolean {
  // The entry's JSON is not kept: written into a small buffer of its own; records through this thread's scratch (decoding is synchronous).
  return decodeOne(bytes, verifyBlocks, null, 1, false, new JsonBytes(), scratch).kind !== 'bad'
}

/** An entry's JSON is appended to the batch's JsonBytes. */
type OneResult = { kind: 'entry'; type: RelayEntryType; seq: number; timeMs: number | null; filteredOps: number; shard: number; repo?: RepoFacts } | SkipResult | FilteredResult | BadResult

function decodeOne(bytes: Uint8Array, verifyBlocks: BlockVerification, filter: EventFilter | null, shards: number, withFacts: boolean, json: JsonBytes, scratch: RecordJsonScratch): OneResult {
  try {
    scratch.reset()
    // Records become JSON text as they are read (protocol/entry-json.ts), copied into the entry below.
    const event = decodeEvent(bytes, { verifyBlocks, recordJson: scratch.record })
    if (isSequenced(event)) {
      // Filtered before the entry is written, so dropped events cost no entry JSON.
      const { event: kept, removedOps } = filter === null ? { event, removedOps: 0 } : filter.apply(event)
      // The rules read the whole event, also what the filter drops: a filtered commit still moves its repo's chain.
      const repo = withFacts ? { repo: repoFactsOf(event) } : {}
      if (kept === null) return { kind: 'filtered', seq: event.seq, ops: removedOps, ...repo }
      const timeMs = Date.parse(kept.time)
      const shard = shardOfDid(repoOf(kept), shards)
      writeEntryJson(kept, json, scratch) // last: nothing after it may throw
      return { kind: 'entry', type: kept.type, seq: kept.seq, timeMs: Number.isNaN(timeMs) ? null : timeMs, filteredOps: removedOps, shard, ...repo }
    }
    if (event.type === 'unknown') return { kind: 'skip', t: event.t, seq: event.seq }
    return { kind: 'skip', t: event.type === 'info' ? '#info' : 'error', seq: null }
  } catch (err) {
    if (isFrameDecodeError(err)) return { kind: 'bad', seq: err.seq ?? null, code: err.code, message: err.message }
    // Our own bug on upstream input must not stop ingestion: quarantine the frame like garbage.
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
    return { kind: 'bad', seq: null, code: IngestorErrorCode.DecodeInternal, message }
  }
}

/** The account an event is about: a commit's repo, else its did. */
function repoOf(event: SequencedEvent): string {
  return event.type === 'commit' ? event.repo : event.did
}

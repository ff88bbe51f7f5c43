import type { FirehoseEvent, SequencedEvent } from './events.js'

/** The entry types made from relay events (toStreamEntry). */
export type RelayEntryType = SequencedEvent['type']

/**
 * The contract with existing workers: `XADD <stream> <id> type <t> data <json> seq <n>`,
 * fields in exactly this order (legacy consumers read fields[1], fields[3], fields[5]).
 * `snapshot`: the begin and end of a repo snapshot (protocol/snapshot-entry.ts), not a relay event.
 */
export interface StreamEntry {
  type: RelayEntryType | 'snapshot'
  seq: number
  /** JSON text of the entry's data. */
  data: string
}

/** Field/value list in contract order, ready for XADD. */
export function entryFields(entry: StreamEntry): [string, string, string, string, string, string] {
  return ['type', entry.type, 'data', entry.data, 'seq', String(entry.seq)]
}

export function isSequenced(event: FirehoseEvent): event is SequencedEvent {
  return event.type === 'commit' || event.type === 'identity' || event.type === 'account' || event.type === 'sync'
}

/** An entry made from a relay event. */
export interface RelayStreamEntry extends StreamEntry {
  type: RelayEntryType
}

/** Maps a sequenced event to its stream entry. Info, error and unknown frames are not published. */
export function toStreamEntry(event: SequencedEvent): RelayStreamEntry {
  return { type: event.type, seq: event.seq, data: JSON.stringify(streamEntryData(event)) }
}

/** The value whose JSON is an entry's `data`: which fields, in which order (protocol/entry-json.ts writes the same bytes). */
export function streamEntryData(event: SequencedEvent): Record<string, unknown> {
  switch (event.type) {
    case 'commit':
      return {
        repo: event.repo,
        ops: event.ops,
        rev: event.rev,
        commit: event.commit,
        time: event.time,
        since: event.since,
        prevData: event.prevData,
        tooBig: event.tooBig,
        blobs: event.blobs,
        seq: event.seq,
      }
    case 'identity':
      return { did: event.did, handle: event.handle, seq: event.seq, time: event.time }
    case 'account':
      return { did: event.did, active: event.active, status: event.status, seq: event.seq, time: event.time }
    case 'sync':
      return { did: event.did, rev: event.rev, commit: event.commit, seq: event.seq, time: event.time }
  }
}

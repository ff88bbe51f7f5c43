import type { AccountEvent, CommitEvent, IdentityEvent, SyncEvent } from '../protocol/events.js'

/** `data` of each entry type, as protocol/stream-entry.ts writes it (README "The stream contract"). */
export type CommitData = Omit<CommitEvent, 'type' | 'rebase'>
export type IdentityData = Omit<IdentityEvent, 'type'>
export type AccountData = Omit<AccountEvent, 'type'>
export type SyncData = Omit<SyncEvent, 'type'>

/**
 * Who wrote the entry: `firehose`, this ingestor (every field of the contract, records and CIDs
 * included); `legacy`, the consumer it replaces (docs/migration.md): commit data only
 * `{repo, ops: [{action, path}]}` (no rev, commit, time, cid or record), identity `{did, handle}`,
 * account `{did, active}`. A stream being migrated holds both, in seq order. Told apart by `time`,
 * which every entry of ours carries and no legacy entry does.
 */
export type EntryFormat = 'firehose' | 'legacy'

interface Delivery {
  /** The stream entry ID: what ack() takes. */
  messageId: string
  seq: number
  format: EntryFormat
  /** Times Redis has delivered this entry, this delivery included (1 on a first read). */
  deliveries: number
}

/** One stream entry, typed by `type`. */
export type StreamEvent =
  (Delivery & { type: 'commit'; data: CommitData }) | (Delivery & { type: 'identity'; data: IdentityData }) | (Delivery & { type: 'account'; data: AccountData }) | (Delivery & { type: 'sync'; data: SyncData })
export type StreamEventType = StreamEvent['type']

/** What an entry is: an event, a type this version does not know (skipped, like the firehose spec says), or not the contract. */
export type ParsedEntry = { kind: 'event'; event: StreamEvent } | { kind: 'unknown-type'; type: string } | { kind: 'malformed'; reason: string }

/** The field each type's data must have, checked so a handler never gets a shape its type promises falsely. */
const REQUIRED: Record<StreamEventType, { key: string; is: (value: unknown) => boolean }> = {
  commit: { key: 'ops', is: Array.isArray },
  identity: { key: 'did', is: (v) => typeof v === 'string' },
  account: { key: 'did', is: (v) => typeof v === 'string' },
  sync: { key: 'did', is: (v) => typeof v === 'string' },
}

/** Reads an entry's fields by name (`type`, `data`, `seq`); never throws. */
export function parseEntry(messageId: string, fields: readonly string[], deliveries: number): ParsedEntry {
  const type = field(fields, 'type')
  const dataText = field(fields, 'data')
  const seqText = field(fields, 'seq')
  if (type === undefined || dataText === undefined || seqText === undefined) return malformed('fields type, data and seq are not all present')
  if (!Object.hasOwn(REQUIRED, type)) return { kind: 'unknown-type', type }
  const seq = /^\d{1,16}$/.test(seqText) ? Number(seqText) : Number.NaN
  if (!Number.isSafeInteger(seq)) return malformed(`seq ${JSON.stringify(seqText.slice(0, 40))} is not an integer`)
  let data: unknown
  try {
    data = JSON.parse(dataText)
  } catch (err) {
    return malformed(`data is not JSON (${(err as Error).message})`)
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return malformed('data is not a JSON object')
  const required = REQUIRED[type as StreamEventType]
  if (!required.is((data as Record<string, unknown>)[required.key])) return malformed(`${type} data has no valid \`${required.key}\``)
  const format: EntryFormat = typeof (data as Record<string, unknown>).time === 'string' ? 'firehose' : 'legacy'
  return { kind: 'event', event: { type, data, seq, format, messageId, deliveries } as StreamEvent }
}

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

function malformed(reason: string): ParsedEntry {
  return { kind: 'malformed', reason }
}

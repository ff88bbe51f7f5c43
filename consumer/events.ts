import type { AccountEvent, CommitEvent, IdentityEvent, SyncEvent } from '../protocol/events.js'
import type { SnapshotBeginData, SnapshotEndData, SnapshotOp } from '../protocol/snapshot-entry.js'

/** `data` of each entry type, as protocol/stream-entry.ts writes it (README "The stream contract"). */
export type CommitData = Omit<CommitEvent, 'type' | 'rebase'>
export type IdentityData = Omit<IdentityEvent, 'type'>
export type AccountData = Omit<AccountEvent, 'type'>
export type SyncData = Omit<SyncEvent, 'type'>

/** A record part of a repo snapshot (a `commit` entry carrying `snapshot: {id, part}`), read as what it is: the creates are upserts. */
export interface SnapshotRecordsData {
  phase: 'records'
  did: string
  id: string
  /** Counts from 0 within the snapshot. */
  part: number
  rev: string
  commit: string
  ops: SnapshotOp[]
  time: string
  seq: number
}

/**
 * `data` of a `snapshot` event, by `phase` (docs/consumer.md, "Repo snapshots"): `begin`, then
 * `records` parts (upserts), then `end`, whose `complete: true` says every record of the DID not
 * in this snapshot is gone. `seq` repeats (the shard's cursor when the snapshot was written): tell
 * snapshots apart by `id`, parts by `part`.
 */
export type SnapshotData = SnapshotBeginData | SnapshotRecordsData | SnapshotEndData

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
  | (Delivery & { type: 'commit'; data: CommitData })
  | (Delivery & { type: 'identity'; data: IdentityData })
  | (Delivery & { type: 'account'; data: AccountData })
  | (Delivery & { type: 'sync'; data: SyncData })
  | (Delivery & { type: 'snapshot'; data: SnapshotData })
export type StreamEventType = StreamEvent['type']

/** What an entry is: an event, a type this version does not know (skipped, like the firehose spec says), or not the contract. */
export type ParsedEntry = { kind: 'event'; event: StreamEvent } | { kind: 'unknown-type'; type: string } | { kind: 'malformed'; reason: string }

/**
 * How entries are read. `snapshots` (FirehoseConsumer): a repo snapshot's entries are `snapshot`
 * events, its record parts included. `as-written` (createLegacyQueue, like the redis-queue.ts it
 * replaces): by the `type` field alone, so the record parts are commits (upserts) and the begin and
 * end entries an unknown type.
 */
export type EntryReading = 'snapshots' | 'as-written'

const isString = (value: unknown): value is string => typeof value === 'string'
const isPart = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** The field each relay type's data must have, checked so a handler never gets a shape its type promises falsely. */
const REQUIRED: Record<Exclude<StreamEventType, 'snapshot'>, { key: string; is: (value: unknown) => boolean }> = {
  commit: { key: 'ops', is: Array.isArray },
  identity: { key: 'did', is: isString },
  account: { key: 'did', is: isString },
  sync: { key: 'did', is: isString },
}

/** Reads an entry's fields by name (`type`, `data`, `seq`); never throws. */
export function parseEntry(messageId: string, fields: readonly string[], deliveries: number, reading: EntryReading = 'snapshots'): ParsedEntry {
  const type = field(fields, 'type')
  const dataText = field(fields, 'data')
  const seqText = field(fields, 'seq')
  if (type === undefined || dataText === undefined || seqText === undefined) return malformed('fields type, data and seq are not all present')
  const snapshotType = type === 'snapshot' && reading === 'snapshots'
  if (!Object.hasOwn(REQUIRED, type) && !snapshotType) return { kind: 'unknown-type', type }
  const seq = /^\d{1,16}$/.test(seqText) ? Number(seqText) : Number.NaN
  if (!Number.isSafeInteger(seq)) return malformed(`seq ${JSON.stringify(seqText.slice(0, 40))} is not an integer`)
  let data: unknown
  try {
    data = JSON.parse(dataText)
  } catch (err) {
    return malformed(`data is not JSON (${(err as Error).message})`)
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return malformed('data is not a JSON object')
  const object = data as Record<string, unknown>
  const format: EntryFormat = isString(object.time) ? 'firehose' : 'legacy'
  const delivery = { seq, format, messageId, deliveries }
  if (snapshotType || (type === 'commit' && reading === 'snapshots' && Object.hasOwn(object, 'snapshot'))) {
    const snapshot = type === 'commit' ? snapshotRecords(object) : snapshotMarker(object)
    return typeof snapshot === 'string' ? malformed(`${type === 'commit' ? 'snapshot part (commit)' : 'snapshot'} data ${snapshot}`) : { kind: 'event', event: { type: 'snapshot', data: snapshot, ...delivery } }
  }
  const required = REQUIRED[type as keyof typeof REQUIRED]
  if (!required.is(object[required.key])) return malformed(`${type} data has no valid \`${required.key}\``)
  return { kind: 'event', event: { type, data, ...delivery } as StreamEvent }
}

/** A begin or end entry's data, or what is wrong with it. An end without a boolean `complete` is refused: it decides what a worker deletes. */
function snapshotMarker(data: Record<string, unknown>): SnapshotBeginData | SnapshotEndData | string {
  if (data.phase !== 'begin' && data.phase !== 'end') return `has no valid \`phase\` (begin or end)`
  for (const key of ['did', 'id', 'rev']) if (!isString(data[key])) return `has no valid \`${key}\``
  if (data.phase === 'end' && typeof data.complete !== 'boolean') return 'has no boolean `complete`'
  return data as unknown as SnapshotBeginData | SnapshotEndData
}

/** A record part's data as a `records` event, or what is wrong with it. */
function snapshotRecords(data: Record<string, unknown>): SnapshotRecordsData | string {
  const snapshot = data.snapshot as Record<string, unknown> | null
  if (typeof snapshot !== 'object' || snapshot === null || !isString(snapshot.id) || !isPart(snapshot.part)) return 'has no valid `snapshot` {id, part}'
  if (!isString(data.repo)) return 'has no valid `repo`'
  if (!isString(data.rev)) return 'has no valid `rev`'
  if (!Array.isArray(data.ops)) return 'has no valid `ops`'
  const { repo: did, rev, commit, ops, time, seq } = data as { repo: string; rev: string; commit: string; ops: SnapshotOp[]; time: string; seq: number }
  return { phase: 'records', did, id: snapshot.id, part: snapshot.part, rev, commit, ops, time, seq }
}

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

function malformed(reason: string): ParsedEntry {
  return { kind: 'malformed', reason }
}

import { parseEntry, type SnapshotData } from '../consumer/events.js'

/** An entry of a repo snapshot (docs/repo-sync.md, "Snapshot entries"), read as the consumer reads it, or what is wrong with it. */
export type SnapshotEntryReading = { kind: 'snapshot'; seq: number; data: SnapshotData } | { kind: 'malformed'; seq: number; reason: string }

/**
 * Whether a stream entry belongs to a repo snapshot: `type snapshot` (its begin and end) or a
 * `commit` whose data has a top-level `snapshot` (a record part). Null: a relay entry. A relay
 * commit is told apart without parsing its data unless the text holds `"snapshot"`.
 */
export function snapshotEntryOf(fields: readonly string[]): SnapshotEntryReading | null {
  const type = field(fields, 'type')
  if (type !== 'snapshot' && !(type === 'commit' && isRecordPart(field(fields, 'data') ?? ''))) return null
  const parsed = parseEntry('', fields, 1, 'snapshots')
  if (parsed.kind === 'event' && parsed.event.type === 'snapshot') return { kind: 'snapshot', seq: parsed.event.seq, data: parsed.event.data }
  const seq = Number(field(fields, 'seq'))
  return { kind: 'malformed', seq: Number.isSafeInteger(seq) ? seq : Number.NaN, reason: parsed.kind === 'malformed' ? parsed.reason : `not read as a snapshot entry (${parsed.kind})` }
}

function isRecordPart(data: string): boolean {
  if (!data.includes('"snapshot"')) return false
  try {
    const value: unknown = JSON.parse(data)
    return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, 'snapshot')
  } catch {
    return false
  }
}

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

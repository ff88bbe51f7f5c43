import { IngestorError, IngestorErrorCode } from './errors.js'

/** The cursor key's value as a seq: '' (no key) is null; anything but a decimal integer is refused. */
export function parseStoredCursor(raw: string, key: string): number | null {
  if (raw === '') return null
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) {
    throw new IngestorError(IngestorErrorCode.BadStoredCursor, `cursor key ${key} holds ${JSON.stringify(raw.slice(0, 40))}, not a seq: fix or delete it`, { key, raw: raw.slice(0, 40) })
  }
  return value
}

/** parseStoredCursor of each shard's raw value, index = shard (`keys` names them in errors). */
export function parseStoredCursors(raw: readonly string[], keys: readonly string[]): (number | null)[] {
  return raw.map((value, shard) => parseStoredCursor(value, keys[shard]!))
}

/** The highest of the shards' cursors, ignoring shards without one (null: none has one). */
export function highestCursor(cursors: readonly (number | null)[]): number | null {
  return pickCursor(cursors, Math.max)
}

/** The lowest of the shards' cursors, ignoring shards without one (null: none has one). */
export function lowestCursor(cursors: readonly (number | null)[]): number | null {
  return pickCursor(cursors, Math.min)
}

function pickCursor(cursors: readonly (number | null)[], pick: (...values: number[]) => number): number | null {
  const known = cursors.filter((cursor): cursor is number => cursor !== null)
  return known.length === 0 ? null : pick(...known)
}

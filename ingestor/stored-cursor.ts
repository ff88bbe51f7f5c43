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

/** The lowest of the shards' cursors, ignoring shards without one (null: none has one). */
export function lowestCursor(cursors: readonly (number | null)[]): number | null {
  let lowest: number | null = null
  for (const cursor of cursors) if (cursor !== null && (lowest === null || cursor < lowest)) lowest = cursor
  return lowest
}

import type { StreamEntry } from '../protocol/stream-entry.js'
import { StreamCheckError, StreamCheckErrorCode } from './errors.js'

/** The repo DID an expected entry is about: data.repo of a commit, data.did of the others (null: none). */
export function didOf(entry: StreamEntry): string | null {
  let data: unknown
  try {
    data = JSON.parse(entry.data)
  } catch {
    throw new StreamCheckError(StreamCheckErrorCode.InvalidInput, `expected entry seq ${entry.seq} has data that is not JSON`, { seq: entry.seq })
  }
  const did = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[entry.type === 'commit' ? 'repo' : 'did'] : undefined
  return typeof did === 'string' ? did : null
}

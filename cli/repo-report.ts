import type { RepoInspection } from '../repo-sync/repo-inspection.js'
import { tidTimestampMs } from '../repo-sync/tid.js'
import type { RepoState } from '../repo-sync/types.js'

/**
 * `firehose repo` output: lines for a person, or one JSON object. An undecodable value is shown
 * in hex up to MAX_SHOWN_BYTES (a stored state is at most ~330 bytes; a longer value is not one,
 * and its start says as much): the rest is counted, not printed.
 */
export const MAX_SHOWN_BYTES = 512

export interface RepoReportContext {
  /** The Redis URL, credentials redacted. */
  redis: string
  /** The number of shard streams (--shards). */
  shards: number
}

export function repoText(inspection: RepoInspection, context: RepoReportContext): string {
  const { did, keys, stored, snapshot } = inspection
  const shard = context.shards > 1 ? ` (shard ${keys.shard} of ${context.shards}: stream ${keys.stream})` : ''
  const lines = [`did:       ${did}`, `hash:      ${keys.state} at ${context.redis}${shard}`]
  if (stored.kind === 'absent') lines.push('state:     no state stored')
  else if (stored.kind === 'undecodable') lines.push(`state:     does not decode: ${stored.error.message} [${stored.error.code}]`, `value:     ${shownHex(stored.value)}`)
  else {
    const { sync, status, rev, data } = stored.state
    lines.push(
      `sync:      ${sync}${stored.state.whole === true ? ' (whole: published by a snapshot since)' : ''}`,
      `status:    ${status}`,
      `rev:       ${rev === '' ? 'none (no commit, #sync or snapshot yet)' : `${rev} (${revTime(rev)})`}`,
      `data:      ${data === '' ? 'none' : data}`,
    )
  }
  lines.push(`snapshot:  ${snapshot ?? 'none open'}`, '')
  return lines.join('\n')
}

export function repoJson(inspection: RepoInspection, context: RepoReportContext): Record<string, unknown> {
  const { did, keys, stored, snapshot } = inspection
  return {
    did,
    redis: context.redis,
    shard: keys.shard,
    stream: keys.stream,
    key: keys.state,
    stored: stored.kind,
    state: stored.kind === 'state' ? stateJson(stored.state) : null,
    ...(stored.kind === 'undecodable' ? { undecodable: { code: stored.error.code, message: stored.error.message, bytes: stored.value.length, hex: stored.value.subarray(0, MAX_SHOWN_BYTES).toString('hex') } } : {}),
    snapshotKey: keys.snapshots,
    snapshot: snapshot === null ? null : parsedOrText(snapshot),
  }
}

/** The RepoState as stored (`rev` and `data` `''`: no chain yet) and the rev's time (null without a rev). */
function stateJson(state: RepoState): Omit<RepoState, 'whole'> & { whole: boolean; revTime: string | null } {
  return { sync: state.sync, whole: state.whole === true, status: state.status, rev: state.rev, revTime: state.rev === '' ? null : revTime(state.rev), data: state.data }
}

/** The TID's time, ISO 8601 to the millisecond (a stored rev is always a TID: the codec reads any 8 bytes as one). */
function revTime(rev: string): string {
  return new Date(tidTimestampMs(rev)).toISOString()
}

function shownHex(value: Buffer): string {
  const shown = value.subarray(0, MAX_SHOWN_BYTES).toString('hex')
  return value.length > MAX_SHOWN_BYTES ? `${shown}... (${value.length} bytes, the first ${MAX_SHOWN_BYTES} shown)` : `${shown} (${value.length} bytes)`
}

/** The progress as JSON when it parses, else the text as stored. */
function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

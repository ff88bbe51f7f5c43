import type { RetainedWindow } from './window.js'

/** The `cursor` query parameter as the client sent it. */
export type CursorParam = { kind: 'none' } | { kind: 'value'; value: number } | { kind: 'invalid'; raw: string }

/** Where a new subscriber starts, decided once at connect time. */
export type CursorPlan = { kind: 'live' } | { kind: 'backlog'; from: number; outdated: boolean } | { kind: 'reject'; error: 'FutureCursor' | 'InvalidRequest'; message: string }

/** Messages as @atproto/pds words them. */
export const FUTURE_CURSOR_MESSAGE = 'Cursor in the future.'
export const OUTDATED_CURSOR_MESSAGE = 'Requested cursor exceeded limit. Possibly missing events'

/**
 * Strict integer parsing (the Go relay's strconv.ParseInt; the PDS would read "12abc" as 12).
 * Negative cursors are accepted and mean the same as 0, as in the PDS.
 */
export function parseCursorParam(params: URLSearchParams): CursorParam {
  const raw = params.get('cursor')
  // An empty value means no cursor in both servers; the official TS client sends `cursor=` when it has none.
  if (raw === null || raw === '') return { kind: 'none' }
  if (!/^-?\d{1,16}$/.test(raw)) return { kind: 'invalid', raw }
  const value = Number(raw)
  return Number.isSafeInteger(value) ? { kind: 'value', value } : { kind: 'invalid', raw }
}

/**
 * Cursor rules (docs/replay.md, ../shared/docs/firehose-facts.md):
 * none -> live; N > head -> FutureCursor (quirks: live); N -> every retained frame with seq > N,
 * flagged `outdated` when frames after N were already evicted (the caller sends an #info
 * OutdatedCursor frame first unless in relay-quirks mode); 0 or negative -> the whole window.
 * A malformed cursor is rejected with InvalidRequest (in quirks mode the HTTP layer answers 400
 * before this is reached).
 */
export function planCursor(param: CursorParam, window: RetainedWindow, relayQuirks: boolean): CursorPlan {
  if (param.kind === 'none') return { kind: 'live' }
  if (param.kind === 'invalid') {
    return { kind: 'reject', error: 'InvalidRequest', message: `Error: cursor must be an integer, got ${JSON.stringify(param.raw)}` }
  }
  const cursor = Math.max(0, param.value)
  if (cursor > (window.headSeq ?? 0)) {
    return relayQuirks ? { kind: 'live' } : { kind: 'reject', error: 'FutureCursor', message: FUTURE_CURSOR_MESSAGE }
  }
  const evicted = window.evictedSeq
  return { kind: 'backlog', from: window.firstIndexAfter(cursor), outdated: evicted !== null && cursor < evicted }
}

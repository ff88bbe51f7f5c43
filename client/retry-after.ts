/** Longest Retry-After we honour; a larger value (or a far-future date) is clamped to this. */
export const MAX_RETRY_AFTER_MS = 300_000

/**
 * Parses an HTTP Retry-After header (RFC 9110: delay-seconds or an HTTP-date) into milliseconds
 * from `nowMs`. Returns null when absent or unparseable, so the caller falls back to backoff.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value
  if (raw === undefined) return null
  const trimmed = raw.trim()
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, MAX_RETRY_AFTER_MS)
  // An HTTP-date always names the weekday; Date.parse alone would read "-1" as a year.
  const dateMs = /^[a-z]{3},/i.test(trimmed) ? Date.parse(trimmed) : Number.NaN
  if (Number.isNaN(dateMs)) return null
  return Math.min(Math.max(0, dateMs - nowMs), MAX_RETRY_AFTER_MS)
}

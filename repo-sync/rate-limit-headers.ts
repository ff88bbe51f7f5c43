import type { IncomingHttpHeaders } from 'node:http'

/** A reset value below this is delta-seconds (the IETF RateLimit draft), at or above it epoch seconds (what atproto PDSes send): 2001-09-09. */
const EPOCH_SECONDS_FROM = 1_000_000_000

/**
 * When a host that rate-limits us may be asked again (epoch ms), from its answer's headers:
 * `RateLimit-Reset` (epoch seconds as atproto PDSes send it; a small value as delta-seconds),
 * else `Retry-After` (delta-seconds or an HTTP date); null when neither is usable. The caller
 * bounds the pause (a hostile value must not park a host for a year).
 */
export function rateLimitResetMs(headers: IncomingHttpHeaders, nowMs: number): number | null {
  const reset = numberHeader(headers['ratelimit-reset'])
  if (reset !== null) return reset >= EPOCH_SECONDS_FROM ? reset * 1000 : nowMs + reset * 1000
  const retryAfter = headers['retry-after']
  if (typeof retryAfter !== 'string') return null
  const seconds = numberHeader(retryAfter)
  if (seconds !== null) return nowMs + seconds * 1000
  const date = Date.parse(retryAfter)
  return Number.isNaN(date) ? null : date
}

/** True when a successful answer says the host's budget is spent (`RateLimit-Remaining: 0`): the next request would get a 429. */
export function budgetSpent(headers: IncomingHttpHeaders): boolean {
  return numberHeader(headers['ratelimit-remaining']) === 0
}

function numberHeader(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string' || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return null
  return Number(value)
}

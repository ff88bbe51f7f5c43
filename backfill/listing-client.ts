import { systemTimers, type Timers } from '../common/timers.js'
import { FetchLimiter } from '../repo-sync/fetch-limits.js'
import { GuardedClient } from '../repo-sync/guarded-client.js'
import { HostGuard } from '../repo-sync/host-guard.js'

/**
 * The listing's HTTP client: repo-sync's (its limiter pauses a host that answers 429 until its
 * `RateLimit-Reset`). The listing server is configuration (`--list-from`), asked as trusted: its
 * address is never checked as a PDS's is.
 */
export function listingClient(timers: Timers = systemTimers): GuardedClient {
  return new GuardedClient(new HostGuard({ allowPrivateHosts: false }), new FetchLimiter({}, timers), timers, { idleTimeoutMs: 60_000, userAgent: 'appview-firehose backfill' })
}

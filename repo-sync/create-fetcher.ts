import { SeededRandom } from '../common/random.js'
import { systemTimers, type Timers } from '../common/timers.js'
import { FetchLimiter, type FetchLimitsOptions } from './fetch-limits.js'
import { GuardedClient } from './guarded-client.js'
import { HostGuard, type HostGuardOptions } from './host-guard.js'
import { PdsResolver, type PdsResolverOptions } from './pds-resolver.js'
import { RepoBackoff, type RepoBackoffOptions } from './repo-backoff.js'
import { RepoFetcher, type RepoFetcherOptions } from './repo-fetcher.js'

/** Everything a process's repo fetching is configured with (docs/repo-sync.md, "Fetching a repository", lists the defaults). */
export interface RepoFetchConfig extends RepoFetcherOptions, Pick<HostGuardOptions, 'allowPrivateHosts'> {
  did: PdsResolverOptions
  limits?: FetchLimitsOptions
  backoff?: RepoBackoffOptions
  /** Longest wait for an answer's headers or its next body bytes (default 60 s). */
  idleTimeoutMs?: number
  userAgent?: string
}

/** The fetcher and the parts it shares, for metrics (limiter), #identity events (resolver.invalidate) and scheduling (backoff). */
export interface RepoFetchParts {
  fetcher: RepoFetcher
  limiter: FetchLimiter
  resolver: PdsResolver
  backoff: RepoBackoff
}

/** Builds one process's fetcher from its configuration: one limiter, one guard, one DID cache, one backoff. */
export function createRepoFetcher(config: RepoFetchConfig, timers: Timers = systemTimers, random: SeededRandom = new SeededRandom(SeededRandom.freshSeed())): RepoFetchParts {
  const limiter = new FetchLimiter(config.limits ?? {}, timers)
  const client = new GuardedClient(new HostGuard({ allowPrivateHosts: config.allowPrivateHosts }), limiter, timers, {
    idleTimeoutMs: config.idleTimeoutMs ?? 60_000,
    userAgent: config.userAgent ?? 'appview-firehose repo-sync',
  })
  const resolver = new PdsResolver(config.did, client, () => timers.now())
  const backoff = new RepoBackoff(config.backoff ?? {}, timers, random)
  const fetcher = new RepoFetcher({ client, resolver, backoff }, config)
  return { fetcher, limiter, resolver, backoff }
}

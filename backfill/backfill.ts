import { DEFAULT_LIST_FROM, DEFAULT_STREAM } from '../common/contract.js'
import { keyLayout } from '../common/key-layout.js'
import { silentLogger, type Logger } from '../common/logger.js'
import type { RedisClient } from '../common/redis-client.js'
import { systemTimers, type Timers } from '../common/timers.js'
import { BackfillStore } from './backfill-store.js'
import { listingClient } from './listing-client.js'
import { RepoLister } from './repo-lister.js'
import { runBackfill, type BackfillProgress } from './run-backfill.js'
import type { BackfillSelection } from './selection.js'

// The relay the default ingest reads (relays serve listRepos too); its home is the contract's defaults.
export { DEFAULT_LIST_FROM }

export interface BackfillOptions {
  /** Where the ingestor writes; a reconnecting connection (each step is retried until Redis answers). */
  redis: RedisClient
  /** The ingestor's stream key, shards and cluster layout (default firehose:events, 1, no cluster). */
  stream?: string
  shards?: number
  redisCluster?: boolean
  selection: BackfillSelection
  /** The relay or PDS that lists the repos (default https://bsky.network); not used for a DID list. */
  listFrom?: string | URL
  /** Forget a stored listing and list from the start (default false). */
  restart?: boolean
  /** Resolve once every repo asked for is done, failing or inactive (default true); false: once the listing is stored. */
  wait?: boolean
  /** Repos asked for and not done at most, before the listing waits (default 10,000). */
  maxOutstanding?: number
  /** How often progress is read (default 1 s). */
  pollMs?: number
  onProgress?: (progress: BackfillProgress) => void
  /** Checked between steps: true ends the run (its position is stored; the next run resumes). */
  stopped?: () => boolean
  logger?: Logger
  timers?: Timers
}

/**
 * Asks the ingestor writing `stream` (per-repo state on) for the existing repos of a selection
 * and, by default, waits until each is published as a repo snapshot (docs/backfill.md). What
 * `firehose backfill` runs. Resumable: a run stopped or killed anywhere continues where it stopped.
 */
export function backfill(options: BackfillOptions): Promise<BackfillProgress> {
  const timers = options.timers ?? systemTimers
  const listFrom = options.selection.kind === 'dids' ? null : new URL(options.listFrom ?? DEFAULT_LIST_FROM)
  return runBackfill({
    store: new BackfillStore(options.redis, keyLayout(options.shards ?? 1, options.redisCluster ?? false), options.stream ?? DEFAULT_STREAM),
    lister: new RepoLister(listingClient(timers), options.selection, listFrom),
    selection: options.selection,
    restart: options.restart ?? false,
    wait: options.wait ?? true,
    maxOutstanding: options.maxOutstanding ?? 10_000,
    pollMs: options.pollMs ?? 1_000,
    backoff: { initialMs: 1_000, maxMs: 60_000 },
    timers,
    logger: options.logger ?? silentLogger,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.stopped ? { stopped: options.stopped } : {}),
  })
}

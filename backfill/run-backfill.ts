import { randomBytes } from 'node:crypto'
import type { Logger } from '../common/logger.js'
import { retryUntilSuccess } from '../common/retry.js'
import type { Timers } from '../common/timers.js'
import { redisConfigError } from '../ingestor/redis-connection.js'
import { shardOfDid } from '../protocol/shard.js'
import { outstanding, type BackfillCounts } from '../repo-sync/backfill-fields.js'
import type { BackfillStore } from './backfill-store.js'

export { inactiveWaiting, outstanding } from '../repo-sync/backfill-fields.js'
import { BackfillError, BackfillErrorCode } from './errors.js'
import type { RepoLister } from './repo-lister.js'
import { selectionId, type BackfillSelection, type ListedPage, type ListingPosition } from './selection.js'

export interface BackfillRunParts {
  store: BackfillStore
  lister: Pick<RepoLister, 'page'>
  selection: BackfillSelection
  /** Forget a stored listing (of this selection or another) and list from the start. */
  restart: boolean
  /** After the listing, wait until every repo asked for is done or failing. */
  wait: boolean
  /** Repos asked for and neither done nor failing, at most: past it the listing waits for the ingestor (default 10,000). */
  maxOutstanding: number
  /** How often progress is read from Redis while waiting (default 1 s). */
  pollMs: number
  /** Retry delays of a listing page or a Redis step that failed. */
  backoff: { initialMs: number; maxMs: number }
  timers: Timers
  logger: Logger
  onProgress?: (progress: BackfillProgress) => void
  stopped?: () => boolean
}

export interface BackfillProgress extends BackfillCounts {
  /** Listing pages taken so far, and whether the listing reached its end. */
  pages: number
  listingComplete: boolean
  atMs: number
}

/** Without a repo done or failing for this long while some are asked for, the log says no ingestor may be running. */
const STALL_WARNING_MS = 60_000

/**
 * A backfill's listing side (docs/backfill.md): lists the selection a page at a time and asks the
 * ingestor for each active repo by writing its marker (BackfillStore.enqueue, atomic per shard
 * and page), saving where the listing stands after each page, so a run killed at any point
 * continues where it stopped and asks for no repo twice. The ingestor (`firehose ingest`, per-repo
 * state on) fetches the repos and ends each marker in the write that ends its snapshot. Bounded:
 * past `maxOutstanding` repos asked for and not yet done or failing, the listing waits.
 */
export async function runBackfill(parts: BackfillRunParts): Promise<BackfillProgress> {
  const { store, lister, logger, timers } = parts
  const redis = <T>(step: () => Promise<T>): Promise<T> => retrying(parts, step, 'redis')
  let listing = await redis(() => store.readListing())
  const wanted = selectionId(parts.selection)
  if (listing !== null && listing.selection !== wanted && !parts.restart) {
    throw new BackfillError(BackfillErrorCode.OtherSelection, `these keys hold a backfill of ${listing.selection}, not ${wanted}: run that one, or --restart to list ${wanted} from the start`, {
      stored: listing.selection,
    })
  }
  if (parts.restart && listing !== null) {
    await redis(() => store.reset())
    listing = null
  }
  if (listing === null) {
    listing = { id: randomBytes(6).toString('hex'), selection: wanted, position: { part: 0, cursor: null }, complete: false, pages: 0, startedAtMs: timers.now() }
    await redis(() => store.writeListing(listing!))
    logger.info({ selection: wanted }, 'backfill listing started')
  } else if (!listing.complete) {
    logger.info({ selection: wanted, pages: listing.pages, position: listing.position }, 'backfill listing resumed where it stopped')
  }
  const progress = async (): Promise<BackfillProgress> => {
    const counts = await redis(() => store.counts())
    const current: BackfillProgress = { ...counts, pages: listing!.pages, listingComplete: listing!.complete, atMs: timers.now() }
    parts.onProgress?.(current)
    return current
  }
  const watch = stallWatch(parts)

  while (!listing.complete && parts.stopped?.() !== true) {
    // Backpressure: the ingestor works through what is asked before more is listed.
    for (let counts = await progress(); outstanding(counts) >= parts.maxOutstanding; counts = await progress()) {
      watch(counts)
      await sleep(timers, parts.pollMs)
      if (parts.stopped?.() === true) return progress()
    }
    const at: ListingPosition = listing.position
    const page: ListedPage = await retrying(parts, () => lister.page(at), 'listing')
    const byShard = new Map<number, { active: string[]; inactive: { did: string; status: string }[] }>()
    for (const repo of page.repos) {
      const shard = shardOfDid(repo.did, store.shards)
      const repos = byShard.get(shard) ?? { active: [], inactive: [] }
      byShard.set(shard, repos)
      if (repo.active) repos.active.push(repo.did)
      else repos.inactive.push({ did: repo.did, status: repo.status ?? 'inactive' })
    }
    const pageId = `${listing.id}:${listing.pages}`
    for (const [shard, repos] of byShard) await redis(() => store.enqueue(shard, pageId, repos.active, repos.inactive))
    listing = { ...listing, position: page.next ?? at, complete: page.next === null, pages: listing.pages + 1 }
    await redis(() => store.writeListing(listing!))
  }
  if (listing.complete) logger.info({ pages: listing.pages }, 'backfill listing complete')
  let counts = await progress()
  while (parts.wait && outstanding(counts) > 0 && parts.stopped?.() !== true) {
    watch(counts)
    await sleep(timers, parts.pollMs)
    counts = await progress()
  }
  return counts
}

/** Retries a step until it succeeds (a listing server or Redis away), logging each failure; a refused Redis configuration is thrown. */
function retrying<T>(parts: BackfillRunParts, step: () => Promise<T>, what: string): Promise<T> {
  return retryUntilSuccess(() => step(), {
    backoff: parts.backoff,
    isFatal: (err) => redisConfigError(err) !== null || refusedListing(err),
    onFailure: (err, failures) => parts.logger.warn({ what, failures: failures + 1, err: { message: (err as Error).message, code: (err as { code?: unknown }).code } }, `backfill ${what} failed; trying again`),
    wait: (ms) => sleep(parts.timers, ms),
  })
}

/**
 * A listing the server refuses (4xx but 429: a bad parameter, a DID it does not know; 501: a method
 * it lacks, as XRPC servers answer MethodNotImplemented) or answers against the lexicon: asking
 * again will not help.
 */
function refusedListing(err: unknown): boolean {
  if (!(err instanceof BackfillError)) return false
  if (err.code === BackfillErrorCode.ListStatus) {
    const status = err.fields.status
    return status !== undefined && ((status >= 400 && status < 500 && status !== 429) || status === 501)
  }
  return true
}

/** Logs once when nothing moves for STALL_WARNING_MS while repos are asked for: the ingestor may not be running. */
function stallWatch(parts: BackfillRunParts): (counts: BackfillCounts) => void {
  let last = -1
  let sinceMs = parts.timers.now()
  let warned = false
  return (counts) => {
    const moved = counts.done + counts.failing
    if (moved !== last) {
      last = moved
      sinceMs = parts.timers.now()
      warned = false
    } else if (!warned && parts.timers.now() - sinceMs >= STALL_WARNING_MS) {
      warned = true
      parts.logger.warn({ outstanding: outstanding(counts) }, 'no backfilled repo done for a minute: is `firehose ingest` (per-repo state on) running on these keys?')
    }
  }
}

function sleep(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, ms))
}

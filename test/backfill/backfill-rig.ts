import type { Redis } from 'ioredis'
import { keyLayout } from '../../common/key-layout.js'
import { silentLogger } from '../../common/logger.js'
import { systemTimers } from '../../common/timers.js'
import { BackfillStore } from '../../backfill/backfill-store.js'
import { RepoLister } from '../../backfill/repo-lister.js'
import { runBackfill, type BackfillProgress, type BackfillRunParts } from '../../backfill/run-backfill.js'
import type { BackfillSelection } from '../../backfill/selection.js'
import { listingClient } from '../../backfill/listing-client.js'

export { listingClient }

/** A backfill's listing side in this process, as `firehose backfill` runs it, on `stream`'s keys. */
export function backfillRun(redis: Redis, stream: string, selection: BackfillSelection, listFrom: URL | null, extra: Partial<BackfillRunParts> & { shards?: number } = {}): Promise<BackfillProgress> {
  const store = new BackfillStore(redis, keyLayout(extra.shards ?? 1, false), stream)
  return runBackfill({
    store,
    lister: new RepoLister(listingClient(), selection, listFrom, { pageSize: 100 }),
    selection,
    restart: false,
    wait: true,
    maxOutstanding: 10_000,
    pollMs: 50,
    backoff: { initialMs: 20, maxMs: 200 },
    timers: systemTimers,
    logger: silentLogger,
    ...extra,
  })
}

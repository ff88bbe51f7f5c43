import type { Redis } from 'ioredis'
import { keyLayout } from '../common/key-layout.js'
import { createLogger } from '../common/logger.js'
import { systemTimers } from '../common/timers.js'
import { BackfillStore } from '../backfill/backfill-store.js'
import { RepoLister } from '../backfill/repo-lister.js'
import { runBackfill, type BackfillProgress } from '../backfill/run-backfill.js'
import type { BackfillSelection } from '../backfill/selection.js'
import { waitUntil } from '../harness/wait.js'
import { startIngestor, type IngestorHandle } from '../ingestor/index.js'
import { FetchLimiter } from '../repo-sync/fetch-limits.js'
import { GuardedClient } from '../repo-sync/guarded-client.js'
import { HostGuard } from '../repo-sync/host-guard.js'

export interface OursTarget {
  redisUrl: string
  /** An idle relay's subscribeRepos URL: the ingestor runs as deployed, but only backfills. */
  relayUrl: string
  stream: string
  pds: URL
}

/**
 * The ingestor (library, per-repo state on, getRepo from `pds` as `--resync-from`) started and
 * running on `target.stream`; `backfill` then runs the backfill's listing side in this process
 * as `firehose backfill --all --list-from <pds>` does, until every repo is done or failing.
 */
export async function startOurs(target: OursTarget): Promise<{ backfill: (redis: Redis) => Promise<BackfillProgress>; stop: () => Promise<void> }> {
  const logger = createLogger({ name: 'bench-backfill', level: 'warn', pretty: false })
  const ingestor: IngestorHandle = await startIngestor({
    relayUrl: target.relayUrl,
    redisUrl: target.redisUrl,
    stream: target.stream,
    cursorKey: `${target.stream}:cursor`,
    deadLetterStream: `${target.stream}:dead`,
    startCursor: null,
    statusIntervalMs: 0,
    decodeWorkers: 0,
    repoState: true,
    allowPrivateHosts: true,
    resyncFrom: target.pds.href,
    // The relay sends nothing on purpose: not a stall to reconnect from.
    stallTimeoutMs: 24 * 3_600_000,
    logger,
  })
  await waitUntil(
    () => {
      const status = ingestor.status()
      return status.state === 'running' && status.relay.connected && status.redis.ready
    },
    { what: 'the ingestor running', timeoutMs: 30_000, intervalMs: 5 },
  )
  const selection: BackfillSelection = { kind: 'all' }
  const client = new GuardedClient(new HostGuard({ allowPrivateHosts: true }), new FetchLimiter({}, systemTimers), systemTimers, { idleTimeoutMs: 60_000, userAgent: 'bench backfill' })
  const backfill = (redis: Redis): Promise<BackfillProgress> =>
    runBackfill({
      store: new BackfillStore(redis, keyLayout(1, false), target.stream),
      lister: new RepoLister(client, selection, target.pds),
      selection,
      restart: false,
      wait: true,
      maxOutstanding: 10_000,
      // Progress read this often: the run's end is seen within 20 ms.
      pollMs: 20,
      backoff: { initialMs: 100, maxMs: 1_000 },
      timers: systemTimers,
      logger,
    })
  return { backfill, stop: () => ingestor.stop() }
}

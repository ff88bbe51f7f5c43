import { readFile } from 'node:fs/promises'
import type { Logger } from '../common/logger.js'
import { backfill } from '../backfill/backfill.js'
import { progressLine, ProgressMeter } from '../backfill/progress-meter.js'
import { parseDidList } from '../backfill/repo-lister.js'
import type { BackfillSelection } from '../backfill/selection.js'
import { backfillRedis } from './backfill-run.js'
import type { BackfillSpec } from './options.js'

/** A progress line in the log this often. */
const LOG_PROGRESS_MS = 30_000

export interface BesideIngest {
  redis: string
  redisCluster: boolean
  stream: string
  shards: number
  listFrom: string
  logger: Logger
}

/**
 * `ingest --backfill`: the listing of `firehose backfill` inside the ingest process, on its keys
 * (docs/backfill.md). It logs its progress and its end; a failure is logged and ends the listing,
 * never the ingestion (run `firehose backfill` with the same selection to continue it).
 */
export async function backfillBesideIngest(spec: BackfillSpec, where: BesideIngest): Promise<{ stop: () => Promise<void> }> {
  const selection: BackfillSelection = spec.kind === 'dids-file' ? { kind: 'dids', dids: parseDidList(await readFile(spec.file, 'utf8'), spec.file) } : spec
  const logger = where.logger.child({ component: 'backfill' })
  const redis = await backfillRedis(where.redis, where.redisCluster, logger)
  const meter = new ProgressMeter()
  let lastLogMs = 0
  let stopping = false
  const run = backfill({
    redis,
    stream: where.stream,
    shards: where.shards,
    redisCluster: where.redisCluster,
    selection,
    listFrom: where.listFrom,
    logger,
    onProgress: (progress) => {
      const rates = meter.add(progress)
      if (progress.atMs - lastLogMs < LOG_PROGRESS_MS) return
      lastLogMs = progress.atMs
      logger.info({ ...progress, recordsPerSec: Math.round(rates.recordsPerSec) }, progressLine(progress, rates))
    },
    stopped: () => stopping,
  })
    .then((final) => {
      if (!stopping) logger.info(final, 'backfill done: every listed repo is done, failing or inactive (firehose backfill --status says which)')
    })
    .catch((err: unknown) => logger.error({ err }, 'backfill listing failed; the ingestion goes on (run firehose backfill with the same selection to continue it)'))
  return {
    stop: async () => {
      stopping = true
      await run
      redis.disconnect()
    },
  }
}

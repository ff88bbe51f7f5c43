import type { Command } from 'commander'
import { keyLayout, keyLayoutProblem } from '../../common/key-layout.js'
import { createLogger, redactText, redactUrl } from '../../common/logger.js'
import { exactCollections, integer, option, positiveNumber } from '../options.js'
import { listFromOption, redisClusterOption, redisOption, shardsOption, streamOption } from '../stream-options.js'
import { action, ExitCode } from '../run.js'

interface BackfillFlags {
  all?: boolean
  collection?: string[]
  dids?: string
  listFrom: string
  status?: boolean
  json?: boolean
  restart?: boolean
  wait: boolean
  maxOutstanding: number
  poll: number
  redis: string
  stream: string
  shards: number
  redisCluster?: boolean
}

/** `firehose backfill`: asks a running `firehose ingest` for the existing repos of a selection (docs/backfill.md). */
export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('ask the ingestor on these keys (firehose ingest, per-repo state on) to publish the existing repos of a selection as repo snapshots, resumably and exactly once; shows progress until every repo is done')
    .addOption(option('--all', 'every repo --list-from lists (com.atproto.sync.listRepos)', 'FIREHOSE_BACKFILL_ALL'))
    .addOption(option('--collection <nsids>', 'repos with records in any of these collections (comma-separated NSIDs; com.atproto.sync.listReposByCollection)', 'FIREHOSE_BACKFILL_COLLECTION', exactCollections))
    .addOption(option('--dids <file>', 'the repos named in this file (one DID a line; # comments)', 'FIREHOSE_BACKFILL_DIDS'))
    .addOption(listFromOption())
    .addOption(option('--status', 'print where the backfill on these keys stands (counts, failing repos and why) and exit', 'FIREHOSE_BACKFILL_STATUS'))
    .addOption(option('--json', 'with --status, or at the end: one JSON line', 'FIREHOSE_JSON'))
    .addOption(option('--restart', 'forget the stored listing (of this selection or another) and list from the start', 'FIREHOSE_BACKFILL_RESTART'))
    .addOption(option('--no-wait', 'exit once the listing is stored, without waiting for the ingestor to finish the repos', 'FIREHOSE_BACKFILL_NO_WAIT'))
    .addOption(option('--max-outstanding <n>', 'repos asked for and not yet done at most; the listing waits past it', 'FIREHOSE_BACKFILL_MAX_OUTSTANDING', integer(1, 10_000_000), 10_000))
    .addOption(option('--poll <seconds>', 'how often progress is read from Redis', 'FIREHOSE_BACKFILL_POLL', positiveNumber(3_600), 1))
    .addOption(redisOption())
    .addOption(streamOption())
    .addOption(shardsOption('ask for each repo in its shard, as the ingestor did'))
    .addOption(redisClusterOption())
    .action(action(backfill))
}

async function backfill(flags: BackfillFlags): Promise<ExitCode> {
  const usage = (reason: string): ExitCode => {
    process.stderr.write(`firehose backfill: ${reason} (see --help)\n`)
    return ExitCode.Usage
  }
  const chosen = [flags.all === true, flags.collection !== undefined, flags.dids !== undefined].filter(Boolean).length
  if (flags.status !== true && chosen !== 1) return usage('choose the repos with exactly one of --all, --collection, --dids (or --status)')
  const layout = keyLayout(flags.shards, flags.redisCluster === true)
  const problem = keyLayoutProblem(layout, flags.stream)
  if (problem !== null) return usage(problem)
  // Loaded here so that other commands do not pay for these modules.
  const { runBackfillCommand } = await import('../backfill-run.js')
  try {
    return await runBackfillCommand({ ...flags, layout, logger: createLogger({ name: 'firehose-backfill' }) })
  } catch (err) {
    const { redisConfigError } = await import('../../ingestor/redis-connection.js')
    const refused = redisConfigError(err)
    const reason = (refused?.message ?? (err instanceof Error ? err.message : String(err))).replace(/\s+/g, ' ').replaceAll(flags.redis, redactUrl(flags.redis))
    const code = refused?.code ?? (err as { code?: unknown }).code
    process.stderr.write(`firehose backfill: ${redactText(reason)}${typeof code === 'string' ? ` [${code}]` : ''}\n`)
    return refused === null ? ExitCode.Error : ExitCode.Config
  }
}

export type { BackfillFlags }

import { readFile } from 'node:fs/promises'
import type { KeyLayout } from '../common/key-layout.js'
import { redactText, type Logger } from '../common/logger.js'
import { openClusterClient, openRedisClient } from '../common/redis-open.js'
import { BackfillStore, type BackfillCounts, type FailingRepo, type StoredListing } from '../backfill/backfill-store.js'
import { progressLine, ProgressMeter, number } from '../backfill/progress-meter.js'
import { parseDidList } from '../backfill/repo-lister.js'
import { backfill } from '../backfill/backfill.js'
import { inactiveWaiting, outstanding, type BackfillProgress } from '../backfill/run-backfill.js'
import type { BackfillSelection } from '../backfill/selection.js'
import type { BackfillFlags } from './commands/backfill.js'
import { ExitCode } from './run.js'
import type { RedisClient } from '../common/redis-client.js'
import { createRedisClient } from '../ingestor/redis-connection.js'

/** Failing repos --status lists at most. */
const FAILING_SHOWN = 20
/** Without a TTY, a progress line this often. */
const PLAIN_PROGRESS_MS = 10_000

/** `firehose backfill` once its flags are checked (cli/commands/backfill.ts): the listing with progress shown, or --status. */
export async function runBackfillCommand(flags: BackfillFlags & { layout: KeyLayout; logger: Logger }): Promise<ExitCode> {
  if (flags.status === true) {
    const redis = flags.redisCluster === true ? await openClusterClient([flags.redis]) : await openRedisClient(flags.redis)
    try {
      return await printStatus(new BackfillStore(redis, flags.layout, flags.stream), flags.json === true)
    } finally {
      redis.disconnect()
    }
  }
  const selection = await selectionOf(flags)
  // A listing runs for hours: its connection reconnects, and each step is retried until Redis answers (run-backfill.ts).
  const redis = await backfillRedis(flags.redis, flags.redisCluster === true, flags.logger)
  try {
    let stopping = false
    const stop = (): void => {
      stopping = true
    }
    process.once('SIGINT', stop).once('SIGTERM', stop)
    const show = progressShower()
    const final = await backfill({
      redis,
      stream: flags.stream,
      shards: flags.shards,
      redisCluster: flags.redisCluster === true,
      selection,
      listFrom: flags.listFrom,
      restart: flags.restart === true,
      wait: flags.wait,
      maxOutstanding: flags.maxOutstanding,
      pollMs: flags.poll * 1000,
      logger: flags.logger,
      onProgress: show.progress,
      stopped: () => stopping,
    })
    show.end()
    process.stdout.write(flags.json === true ? `${JSON.stringify(final)}\n` : summary(final))
    if (stopping) return ExitCode.Ok
    return final.failing > 0 ? ExitCode.Failed : ExitCode.Ok
  } finally {
    redis.disconnect()
  }
}

/** The client of a long listing: reconnecting, no offline queue (a step fails while Redis is away and is retried). */
export async function backfillRedis(url: string, cluster: boolean, logger: Logger): Promise<RedisClient> {
  const { client } = createRedisClient(url, cluster, { connectionName: 'firehose-backfill', retryDelayMs: (times) => Math.min(times * 200, 5_000) })
  client.on('error', (err: Error) => logger.debug({ err: { message: err.message } }, 'redis connection error'))
  // The first step waits for the connection (or its first failure, which the step's retries then wait out).
  await new Promise<void>((resolve) => {
    client.once('ready', resolve)
    client.once('error', () => resolve())
  })
  return client
}

async function selectionOf(flags: BackfillFlags): Promise<BackfillSelection> {
  if (flags.all === true) return { kind: 'all' }
  if (flags.collection !== undefined) return { kind: 'collections', collections: flags.collection }
  return { kind: 'dids', dids: parseDidList(await readFile(flags.dids!, 'utf8'), flags.dids!) }
}

/** On a TTY, one line redrawn in place; otherwise a line every PLAIN_PROGRESS_MS. Both on stderr: stdout keeps the summary. */
function progressShower(): { progress: (progress: BackfillProgress) => void; end: () => void } {
  const meter = new ProgressMeter()
  const tty = process.stderr.isTTY === true
  let lastPlainMs = 0
  let drawn = false
  return {
    progress: (progress) => {
      const line = progressLine(progress, meter.add(progress))
      if (tty) {
        process.stderr.write(`\r${line}\x1b[K`)
        drawn = true
      } else if (progress.atMs - lastPlainMs >= PLAIN_PROGRESS_MS) {
        lastPlainMs = progress.atMs
        process.stderr.write(`${line}\n`)
      }
    },
    end: () => {
      if (drawn) process.stderr.write('\n')
    },
  }
}

function summary(final: BackfillProgress): string {
  const left = outstanding(final)
  const lines = [
    `backfill: ${number(final.done)} of ${number(final.listed)} repos done, ${number(final.records)} records; ${number(final.failing)} failing, ${number(inactiveWaiting(final))} inactive (fetched if their account is active again), ${number(left)} waiting; listing ${final.listingComplete ? 'complete' : 'not complete'} after ${number(final.pages)} pages`,
  ]
  if (final.failing > 0) lines.push('the ingestor retries failing repos with backoff; see why with: firehose backfill --status')
  if (!final.listingComplete) lines.push('run the same command again to continue where the listing stopped')
  return `${lines.join('\n')}\n`
}

async function printStatus(store: BackfillStore, json: boolean): Promise<ExitCode> {
  const [listing, counts, failing, inactive] = [await store.readListing(), await store.counts(), await store.failing(FAILING_SHOWN), await store.inactive(FAILING_SHOWN)]
  if (json) {
    process.stdout.write(`${JSON.stringify({ listing, ...counts, outstanding: outstanding(counts), failingRepos: failing.repos, inactiveRepos: inactive.repos })}\n`)
  } else {
    process.stdout.write(statusText(listing, counts, failing, inactive))
  }
  return listing === null && counts.listed === 0 ? ExitCode.Failed : ExitCode.Ok
}

function statusText(listing: StoredListing | null, counts: BackfillCounts, failing: { repos: FailingRepo[]; total: number }, inactive: { repos: { did: string; status: string }[]; total: number }): string {
  if (listing === null && counts.listed === 0) return 'no backfill on these keys\n'
  const lines = [
    listing === null
      ? 'backfill: listing forgotten (--restart)'
      : `backfill of ${listing.selection}: listing ${listing.complete ? 'complete' : `at page ${number(listing.pages)}`}, started ${new Date(listing.startedAtMs).toISOString()}`,
    `repos: ${number(counts.done)} done of ${number(counts.listed)} listed, ${number(counts.failing)} failing, ${number(inactiveWaiting(counts))} inactive (fetched if their account is active again), ${number(outstanding(counts))} waiting; ${number(counts.records)} records`,
  ]
  if (failing.total > 0) {
    lines.push(`failing${failing.total > failing.repos.length ? ` (first ${failing.repos.length} of ${number(failing.total)})` : ''}:`)
    for (const repo of failing.repos) lines.push(`  ${repo.did}  ${repo.code}  ${repo.attempts} attempts, last ${new Date(repo.atMs).toISOString()}: ${redactText(repo.message)}`)
  }
  if (inactive.total > 0) {
    lines.push(`inactive when listed, waiting for their account to be active again${inactive.total > inactive.repos.length ? ` (first ${inactive.repos.length} of ${number(inactive.total)})` : ''}:`)
    for (const repo of inactive.repos) lines.push(`  ${repo.did}  ${repo.status}`)
  }
  return `${lines.join('\n')}\n`
}

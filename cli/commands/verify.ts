import type { Command } from 'commander'
import type { StreamCheckResult } from '../../stream-check/stream-checker.js'
import { redactText, redactUrl } from '../../common/logger.js'
import type { ReplayStatus } from '../../replay/index.js'
import { integer, nonEmpty, option, url } from '../options.js'
import { redisClusterOption, redisOption, repoStateNeeded, repoStateOption, shardsOption, streamOption } from '../stream-options.js'
import { action, ExitCode } from '../run.js'

interface VerifyOptions {
  fixture: string
  redis: string
  stream: string
  replay?: string
  json?: boolean
  shards: number
  redisCluster?: boolean
  repoState?: boolean
  wait: number
}

/** `firehose verify`: compares a Redis stream with the entries a fixture should have produced. */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check a Redis stream against a fixture: missing, duplicated, out-of-order, mismatched entries (exit 1 if any)')
    .addOption(option('--fixture <file>', 'fixture file the stream was ingested from', 'FIREHOSE_FIXTURE', nonEmpty).makeOptionMandatory())
    .addOption(redisOption())
    .addOption(streamOption())
    .addOption(shardsOption("check each shard stream <key>:<i> against its repos' events"))
    .addOption(redisClusterOption())
    .addOption(
      repoStateOption(
        'the stream was written by ingest --repo-state: its snapshot entries are checked on their own, the commits and #syncs it withheld are counted, not missing, a commit published after later seqs is in order if it is within its repo',
      ),
    )
    .addOption(option('--replay <url>', 'replay server the stream was fed from: seqs its faults destroyed (swallow, truncate, regress) are not expected', 'FIREHOSE_REPLAY_URL', url(['http:', 'https:', 'ws:', 'wss:'])))
    .addOption(option('--json', 'print the full result as one JSON line', 'FIREHOSE_JSON'))
    .addOption(
      option(
        '--wait <seconds>',
        'while an ingestor is still writing: check again until no expected entry is missing (with --repo-state: and no snapshot open, no repo awaiting a resync, the stream unchanged since the previous check), for at most this long, then report',
        'FIREHOSE_WAIT',
        integer(0, 3600),
        0,
      ),
    )
    .action(action(verify))
}

async function verify(options: VerifyOptions): Promise<ExitCode> {
  // Loaded here so that other commands do not pay for the checker's modules.
  const { checkStream, describeSeqs, expectedEntriesFromFixture } = await import('../../stream-check/stream-checker.js')
  const { seqsLostToFaults } = await import('../../stream-check/replay-faults.js')
  const { checkShards } = await import('../../stream-check/shard-checker.js')
  const sharded = options.shards > 1 || options.redisCluster === true
  const repoState = options.repoState === true
  let checks: { stream: string; result: StreamCheckResult }[]
  let skipSeqs = new Set<number>()
  try {
    if (options.replay !== undefined) skipSeqs = seqsLostToFaults(await fetchReplayStatus(options.replay))
    const expected = await expectedEntriesFromFixture(options.fixture, { skipSeqs })
    const check = async (): Promise<{ stream: string; result: StreamCheckResult }[]> => {
      try {
        return sharded
          ? (await checkShards({ redis: [options.redis], cluster: options.redisCluster === true, stream: options.stream, shards: options.shards, expected, repoState })).shards
          : [{ stream: options.stream, result: await checkStream({ redisUrl: options.redis, stream: options.stream, expected, repoState }) }]
      } catch (err) {
        // The client's own message (e.g. `getaddrinfo ENOTFOUND host`) does not say which Redis.
        throw new Error(`cannot read ${options.stream} from Redis at ${redactUrl(options.redis)}: ${(err as Error).message}`, { cause: err })
      }
    }
    checks = await check()
    const settled = settledCheck(repoState)
    if (options.wait > 0 && !settled(checks)) {
      // Entries still arriving: missing ones may come; duplicates never go away, so a complete stream ends the wait.
      const { pollUntil } = await import('../../common/wait.js')
      // A read failing while waiting (Redis restarting beside the ingestor) is one more try; the last good read is reported.
      const recheck = async (): Promise<boolean> => {
        try {
          checks = await check()
        } catch {
          return false
        }
        return settled(checks)
      }
      await pollUntil(recheck, { timeoutMs: options.wait * 1000, intervalMs: 500 })
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    // Any URL may be quoted (--redis raw, --replay in a fetch error): none keeps its password.
    process.stderr.write(`firehose verify: ${redactText(reason.replaceAll(options.redis, redactUrl(options.redis)))}\n`)
    return ExitCode.Error
  }
  const withSnapshots = checks.filter(({ result }) => result.snapshots.entries > 0).map(({ stream }) => stream)
  if (!repoState && withSnapshots.length > 0) {
    process.stderr.write(repoStateNeeded('verify', withSnapshots))
    return ExitCode.Usage
  }
  const ok = checks.every(({ result }) => result.ok)
  if (options.json === true) {
    const shards = sharded ? { shards: checks.map(({ stream, result }) => ({ stream, ...result })), ok } : checks[0]!.result
    process.stdout.write(`${JSON.stringify({ fixture: options.fixture, stream: options.stream, repoState, ...shards, lostToReplayFaults: [...skipSeqs] })}\n`)
  } else {
    for (const { stream, result } of checks) {
      process.stdout.write(
        [
          `stream ${stream} at ${redactUrl(options.redis)} vs ${options.fixture}${sharded ? " (its repos' events)" : ''}${repoState ? ', written with --repo-state' : ''}`,
          `expected:     ${result.expected}`,
          `delivered:    ${result.delivered}`,
          `missing:      ${describeSeqs(result.lost)}`,
          ...(repoState
            ? [`withheld:     ${describeSeqs([...result.withheld.syncs, ...result.withheld.commits])} by per-repo state: ${result.withheld.syncs.length} #sync, ${result.withheld.commits.length} commits (not missing)`]
            : []),
          `duplicated:   ${describeSeqs(result.duplicated)}`,
          `out-of-order: ${describeSeqs(result.outOfOrder)}`,
          ...(repoState ? [`late:         ${describeSeqs(result.late)} (commits held while their repo resynced, published after its snapshot: in order within their repo)`] : []),
          `mismatched:   ${describeSeqs(result.mismatched)}`,
          `unexpected:   ${describeSeqs(result.unexpected)}`,
          ...(repoState ? repoStateLines(result) : []),
          '',
        ].join('\n'),
      )
    }
    process.stdout.write([...(options.replay === undefined ? [] : [`lost to replay faults (not expected): ${describeSeqs([...skipSeqs])}`]), ok ? 'OK' : 'FAILED', ''].join('\n'))
  }
  return ok ? ExitCode.Ok : ExitCode.Failed
}

/**
 * When --wait stops checking again. Without repo state: nothing missing (or snapshot entries
 * found: the check needs --repo-state, waiting cannot help). With it, withheld entries never
 * come, so the stream must be settled: nothing missing that per-repo state cannot withhold, no
 * snapshot open, no repo awaiting a resync, and as many entries as at the previous check (one
 * interval without a write: the ingestor has caught up with the fixture).
 */
function settledCheck(repoState: boolean): (checks: readonly { result: StreamCheckResult }[]) => boolean {
  let previous: number[] | null = null
  return (checks) => {
    if (!repoState) return checks.every(({ result }) => result.lost.length === 0) || checks.some(({ result }) => result.snapshots.entries > 0)
    const entries = checks.map(({ result }) => result.entries)
    const quiet = previous !== null && entries.every((count, i) => count === previous![i])
    previous = entries
    return quiet && checks.every(({ result }) => result.lost.length === 0 && result.snapshots.open === 0 && result.awaitingResync === 0)
  }
}

/** The snapshot and per-repo state lines of a --repo-state report. */
function repoStateLines(result: StreamCheckResult): string[] {
  const { snapshots } = result
  const open =
    snapshots.open === 0 ? '' : ` (begun, not ended: ${snapshots.openIds.slice(0, 3).join(', ')}${snapshots.open > 3 ? ', ...' : ''}; an ingestor stopped mid-snapshot ends it complete: false when it starts again)`
  const first = snapshots.violations.first.slice(0, 3).map((violation) => `${violation.rule} at seq ${violation.seq}: ${violation.detail}`)
  return [
    `snapshots:    ${snapshots.begun} begun: ${snapshots.complete} complete, ${snapshots.abandoned} abandoned (complete: false), ${snapshots.open} open${open}; ${snapshots.parts} parts, ${snapshots.records} records`,
    `snapshot rule violations: ${snapshots.violations.count}${first.length === 0 ? '' : ` (${first.join('; ')}${snapshots.violations.count > first.length ? '; ...' : ''})`}`,
    `awaiting a resync: ${result.awaitingResync} repos (their commits stay withheld until a snapshot covers them)`,
  ]
}

/** GET /_replay/status from the replay server's HTTP or WebSocket URL. */
async function fetchReplayStatus(replayUrl: string): Promise<ReplayStatus> {
  const statusUrl = new URL('/_replay/status', replayUrl.replace(/^ws/, 'http'))
  const response = await fetch(statusUrl)
  if (!response.ok) throw new Error(`replay status ${statusUrl.href}: HTTP ${response.status}`)
  return (await response.json()) as ReplayStatus
}

import type { Command } from 'commander'
import { DEFAULT_REDIS_URL, DEFAULT_STREAM } from '../../common/contract.js'
import type { StreamCheckResult } from '../../stream-check/stream-checker.js'
import { redactText, redactUrl } from '../../common/logger.js'
import type { ReplayStatus } from '../../replay/index.js'
import { MAX_SHARDS } from '../../ingestor/options.js'
import { integer, nonEmpty, option, redisUrl, url } from '../options.js'
import { action, ExitCode } from '../run.js'

interface VerifyOptions {
  fixture: string
  redis: string
  stream: string
  replay?: string
  json?: boolean
  shards: number
  redisCluster?: boolean
  wait: number
}

/** `firehose verify`: compares a Redis stream with the entries a fixture should have produced. */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check a Redis stream against a fixture: missing, duplicated, out-of-order, mismatched entries (exit 1 if any)')
    .addOption(option('--fixture <file>', 'fixture file the stream was ingested from', 'FIREHOSE_FIXTURE', nonEmpty).makeOptionMandatory())
    .addOption(option('--redis <url>', 'Redis URL', 'REDIS_URL', redisUrl, DEFAULT_REDIS_URL))
    .addOption(option('--stream <key>', 'stream key', 'REDIS_STREAM_KEY', nonEmpty, DEFAULT_STREAM))
    .addOption(option('--shards <n>', "the stream was ingested with --shards n: check each shard stream <key>:<i> against its repos' events", 'FIREHOSE_SHARDS', integer(1, MAX_SHARDS), 1))
    .addOption(option('--redis-cluster', '--redis is a seed node of a Redis Cluster (as for ingest --redis-cluster)', 'FIREHOSE_REDIS_CLUSTER'))
    .addOption(option('--replay <url>', 'replay server the stream was fed from: seqs its faults destroyed (swallow, truncate, regress) are not expected', 'FIREHOSE_REPLAY_URL', url(['http:', 'https:', 'ws:', 'wss:'])))
    .addOption(option('--json', 'print the full result as one JSON line', 'FIREHOSE_JSON'))
    .addOption(option('--wait <seconds>', 'while an ingestor is still writing: check again until no expected entry is missing, for at most this long, then report', 'FIREHOSE_WAIT', integer(0, 3600), 0))
    .action(action(verify))
}

async function verify(options: VerifyOptions): Promise<ExitCode> {
  // Loaded here so that other commands do not pay for the checker's modules.
  const { checkStream, describeSeqs, expectedEntriesFromFixture } = await import('../../stream-check/stream-checker.js')
  const { seqsLostToFaults } = await import('../../stream-check/replay-faults.js')
  const { checkShards } = await import('../../stream-check/shard-checker.js')
  const sharded = options.shards > 1 || options.redisCluster === true
  let checks: { stream: string; result: StreamCheckResult }[]
  let skipSeqs = new Set<number>()
  try {
    if (options.replay !== undefined) skipSeqs = seqsLostToFaults(await fetchReplayStatus(options.replay))
    const expected = await expectedEntriesFromFixture(options.fixture, { skipSeqs })
    const check = async (): Promise<{ stream: string; result: StreamCheckResult }[]> => {
      try {
        return sharded
          ? (await checkShards({ redis: [options.redis], cluster: options.redisCluster === true, stream: options.stream, shards: options.shards, expected })).shards
          : [{ stream: options.stream, result: await checkStream({ redisUrl: options.redis, stream: options.stream, expected }) }]
      } catch (err) {
        // The client's own message (e.g. `getaddrinfo ENOTFOUND host`) does not say which Redis.
        throw new Error(`cannot read ${options.stream} from Redis at ${redactUrl(options.redis)}: ${(err as Error).message}`, { cause: err })
      }
    }
    checks = await check()
    const complete = (): boolean => checks.every(({ result }) => result.lost.length === 0)
    if (options.wait > 0 && !complete()) {
      // Entries still arriving: missing ones may come; duplicates never go away, so a complete stream ends the wait.
      const { pollUntil } = await import('../../common/wait.js')
      // A read failing while waiting (Redis restarting beside the ingestor) is one more try; the last good read is reported.
      const recheck = async (): Promise<boolean> => {
        checks = await check().catch(() => checks)
        return complete()
      }
      await pollUntil(recheck, { timeoutMs: options.wait * 1000, intervalMs: 500 })
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    // Any URL may be quoted (--redis raw, --replay in a fetch error): none keeps its password.
    process.stderr.write(`firehose verify: ${redactText(reason.replaceAll(options.redis, redactUrl(options.redis)))}\n`)
    return ExitCode.Error
  }
  const ok = checks.every(({ result }) => result.ok)
  if (options.json === true) {
    const shards = sharded ? { shards: checks.map(({ stream, result }) => ({ stream, ...result })), ok } : checks[0]!.result
    process.stdout.write(`${JSON.stringify({ fixture: options.fixture, stream: options.stream, ...shards, lostToReplayFaults: [...skipSeqs] })}\n`)
  } else {
    for (const { stream, result } of checks) {
      process.stdout.write(
        [
          `stream ${stream} at ${redactUrl(options.redis)} vs ${options.fixture}${sharded ? " (its repos' events)" : ''}`,
          `expected:     ${result.expected}`,
          `delivered:    ${result.delivered}`,
          `missing:      ${describeSeqs(result.lost)}`,
          `duplicated:   ${describeSeqs(result.duplicated)}`,
          `out-of-order: ${describeSeqs(result.outOfOrder)}`,
          `mismatched:   ${describeSeqs(result.mismatched)}`,
          `unexpected:   ${describeSeqs(result.unexpected)}`,
          '',
        ].join('\n'),
      )
    }
    process.stdout.write([...(options.replay === undefined ? [] : [`lost to replay faults (not expected): ${describeSeqs([...skipSeqs])}`]), ok ? 'OK' : 'FAILED', ''].join('\n'))
  }
  return ok ? ExitCode.Ok : ExitCode.Failed
}

/** GET /_replay/status from the replay server's HTTP or WebSocket URL. */
async function fetchReplayStatus(replayUrl: string): Promise<ReplayStatus> {
  const statusUrl = new URL('/_replay/status', replayUrl.replace(/^ws/, 'http'))
  const response = await fetch(statusUrl)
  if (!response.ok) throw new Error(`replay status ${statusUrl.href}: HTTP ${response.status}`)
  return (await response.json()) as ReplayStatus
}

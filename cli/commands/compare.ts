import { InvalidArgumentError, type Command } from 'commander'
import { DEFAULT_REDIS_URL } from '../../common/contract.js'
import type { SnapshotReport } from '../../stream-check/snapshot-check.js'
import type { CompareResult, SeqRanges } from '../../stream-check/stream-compare.js'
import { redactText, redactUrl } from '../../common/logger.js'
import { option, redisUrl } from '../options.js'
import { repoStateNeeded, repoStateOption } from '../stream-options.js'
import { action, ExitCode } from '../run.js'

interface CompareFlags {
  stream: string[]
  redis: string
  repoState?: boolean
  json?: boolean
}

/** `firehose compare`: two streams side by side by seq, e.g. a shadow run against the legacy consumer's stream (docs/migration.md). */
export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('compare two streams by seq (a shadow run against the legacy stream): what one has and the other lacks, ops that differ, records one omits; exit 1 if they disagree where both cover')
    .addOption(option('--stream <key>', 'a stream to compare; give it twice (A, then B), or FIREHOSE_STREAMS=a,b', 'FIREHOSE_STREAMS').argParser(twoStreams).makeOptionMandatory())
    .addOption(option('--redis <url>', 'Redis URL holding both streams', 'REDIS_URL', redisUrl, DEFAULT_REDIS_URL))
    .addOption(
      repoStateOption('one or both streams were written by ingest --repo-state: their snapshot entries are checked on their own, the commits and #syncs one stream lacks are counted as withheld, not as disagreements'),
    )
    .addOption(option('--json', 'print the full result as one JSON line', 'FIREHOSE_JSON'))
    .action(action(compare))
}

/** Repeated --stream flags, or one comma-separated value from the environment: exactly two, different. */
function twoStreams(value: string, previous: string[] | undefined): string[] {
  const streams = [...(previous ?? []), ...value.split(',').map((item) => item.trim())]
  if (streams.some((stream) => stream === '')) throw new InvalidArgumentError(`expected stream keys, got "${value}"`)
  if (streams.length > 2) throw new InvalidArgumentError(`expected two streams, got ${streams.length}`)
  return streams
}

async function compare(flags: CompareFlags): Promise<ExitCode> {
  const [a, b] = flags.stream
  if (a === undefined || b === undefined || a === b) {
    process.stderr.write(`firehose compare: give two different streams (--stream A --stream B) (see --help)\n`)
    return ExitCode.Usage
  }
  // Loaded here so that other commands do not pay for the checker's modules.
  const { compareStreams } = await import('../../stream-check/stream-compare.js')
  const { openRedisClient } = await import('../../common/redis-open.js')
  let result: CompareResult
  try {
    const redis = await openRedisClient(flags.redis)
    try {
      result = await compareStreams(redis, a, b, { repoState: flags.repoState === true })
    } finally {
      redis.disconnect()
    }
  } catch (err) {
    process.stderr.write(`firehose compare: cannot read the streams from Redis at ${redactUrl(flags.redis)}: ${redactText((err as Error).message)}\n`)
    return ExitCode.Error
  }
  const withSnapshots = [result.a, result.b].filter((side) => side.snapshots.entries > 0).map((side) => side.stream)
  if (!result.repoState && withSnapshots.length > 0) {
    process.stderr.write(repoStateNeeded('compare', withSnapshots))
    return ExitCode.Usage
  }
  if (flags.json === true) process.stdout.write(`${JSON.stringify(result)}\n`)
  else process.stdout.write(report(result, redactUrl(flags.redis)))
  return result.ok ? ExitCode.Ok : ExitCode.Failed
}

function report(result: CompareResult, redis: string): string {
  const side = (label: string, s: CompareResult['a']): string =>
    `${label} ${s.stream}: ${s.entries} entries, seqs ${s.firstSeq ?? '-'}..${s.lastSeq ?? '-'}${s.outOfOrder > 0 ? `, ${s.outOfOrder} out of seq order (not compared)` : ''}`
  const overlap = result.overlap === null || result.overlap[0] > result.overlap[1] ? 'none' : `seqs ${result.overlap[0]}..${result.overlap[1]}`
  return [
    `comparing at ${redis}`,
    side('A', result.a),
    side('B', result.b),
    ...(result.repoState ? [`A snapshots:      ${snapshotLine(result.a.snapshots)}`, `B snapshots:      ${snapshotLine(result.b.snapshots)}`] : []),
    `both cover:       ${overlap}`,
    `only in A:        ${ranges(result.onlyInA)}`,
    `only in B:        ${ranges(result.onlyInB)}`,
    `outside overlap:  A ${result.outsideOverlap.a}, B ${result.outsideOverlap.b} (one started or stopped earlier: not a disagreement)`,
    ...(result.repoState
      ? [`withheld from A:  ${ranges(result.withheldFromA)}`, `withheld from B:  ${ranges(result.withheldFromB)} (commits and #syncs per-repo state withheld or published after later seqs: not a disagreement)`]
      : []),
    `type differs:     ${ranges(result.typeDiffers)}`,
    `data differs:     ${ranges(result.dataDiffers)} (commit repo or ops by action and path; other events' did)`,
    `record differs:   ${ranges(result.recordDiffers)} (where both carry a record or CID)`,
    `records only in A: ${result.recordsOnlyInA}, only in B: ${result.recordsOnlyInB} (op records one carries and the other omits)`,
    result.ok ? 'OK: they agree on everything both contain' : result.agree ? 'FAILED: they agree, but a stream breaks the snapshot rules' : 'DIFFERENT',
    '',
  ].join('\n')
}

/** A stream's snapshots: counts, and the first rule broken. */
function snapshotLine(report: SnapshotReport): string {
  const first = report.violations.first[0]
  const broken = first === undefined ? '' : ` (first: ${first.rule} at seq ${first.seq}: ${first.detail})`
  return `${report.begun} begun: ${report.complete} complete, ${report.abandoned} abandoned (complete: false), ${report.open} open; ${report.records} records; ${report.violations.count} rule violations${broken}`
}

function ranges(seqs: SeqRanges): string {
  if (seqs.count === 0) return '0'
  const shown = seqs.ranges.slice(0, 5).map(([from, to]) => (from === to ? String(from) : `${from}-${to}`))
  return `${seqs.count} (${shown.join(', ')}${seqs.ranges.length > shown.length || seqs.count > seqs.ranges.reduce((n, [from, to]) => n + to - from + 1, 0) ? ', ...' : ''})`
}

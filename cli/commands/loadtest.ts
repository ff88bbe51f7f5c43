import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { SeededRandom } from '../../common/random.js'
import type { StepProfile } from '../../loadtest/profile.js'
import { loadCommandTools } from '../dev-tools.js'
import { integer, option, positiveNumber, redisUrl } from '../options.js'
import { action, ExitCode } from '../run.js'

interface LoadtestFlags {
  fixture: string
  /** Checked by the load tester's own parsers once it is loaded (loadtest/profile.ts). */
  rate?: string
  profile?: string
  duration?: number
  maxLagMs: number
  stepSeconds: number
  drainTimeout: number
  redis?: string
  report: string
  seed?: number
}

/** Longest load (samples are kept one per second). */
const MAX_DURATION_SEC = 6 * 3600

/** `firehose loadtest`: replay -> ingestor child -> Redis under a rate plan, sampled every second (docs/loadtest.md). */
/** Off a terminal, a progress line this often (the first sample is always logged). */
const PROGRESS_LOG_SECONDS = 10

export function registerLoadtest(program: Command): void {
  program
    .command('loadtest')
    .description('load-test the ingestor: looping replay at a rate, profile or max search; lag, RSS, CPU every second; stream checked; report.json + report.html')
    .addOption(option('--fixture <file>', 'fixture to replay (looped, seqs rewritten)', 'FIREHOSE_FIXTURE').makeOptionMandatory())
    .addOption(option('--rate <n|max>', 'constant events/s, or max: search the highest sustainable rate', 'FIREHOSE_LOADTEST_RATE'))
    .addOption(option('--profile <spec>', 'stepped rate: step:FROM..TO[+STEP]/SECONDSs (STEP defaults to FROM)', 'FIREHOSE_LOADTEST_PROFILE'))
    .addOption(option('--duration <seconds>', 'load seconds (default 60; a profile: its length; max: 120 as a budget)', 'FIREHOSE_LOADTEST_DURATION', integer(1, MAX_DURATION_SEC)))
    .addOption(option('--max-lag-ms <ms>', 'a rate is sustained while lag p99 stays below this and does not grow', 'FIREHOSE_LOADTEST_MAX_LAG_MS', integer(1, 3_600_000), 2000))
    .addOption(option('--step-seconds <seconds>', 'length of each probe of --rate max', 'FIREHOSE_LOADTEST_STEP_SECONDS', integer(2, 3600), 10))
    .addOption(option('--drain-timeout <seconds>', 'after the load, time the ingestor gets to write what was published', 'FIREHOSE_LOADTEST_DRAIN_TIMEOUT', positiveNumber(3600), 60))
    .addOption(option('--redis <url>', 'existing Redis (unique keys, deleted afterwards); default: a redis-server child (HARNESS_REDIS chooses another provider)', 'FIREHOSE_LOADTEST_REDIS', redisUrl))
    .addOption(option('--report <dir>', 'directory for report.json and report.html', 'FIREHOSE_LOADTEST_REPORT', undefined, 'loadtest-report'))
    .addOption(option('--seed <n>', 'replay server seed (default: fresh, in the report)', 'FIREHOSE_LOADTEST_SEED', integer(0, 0xffff_ffff)))
    .showHelpAfterError(false)
    .action(action(loadtest))
}

async function loadtest(flags: LoadtestFlags): Promise<ExitCode> {
  const usage = (reason: string): ExitCode => {
    process.stderr.write(`firehose loadtest: ${reason}\n`)
    return ExitCode.Usage
  }
  if (flags.rate === undefined && flags.profile === undefined) return usage('give --rate N, --rate max or --profile step:FROM..TO[+STEP]/SECONDSs')
  if (flags.rate !== undefined && flags.profile !== undefined) return usage('--rate and --profile exclude each other (the profile sets the rate)')
  // Loaded here so that other commands do not pay for the harness and the replay server (and the image can leave them out).
  const tools = await loadCommandTools('loadtest', loadLoadtest)
  if (tools === null) return ExitCode.Usage
  const { runLoadtest, writeReports, formatTable, progressLine, progressText, summaryRows, LoadtestError, LoadtestErrorCode, parseProfile, parseRate } = tools
  let rate: number | 'max' | undefined
  let profile: StepProfile | undefined
  try {
    rate = flags.rate === undefined ? undefined : parseRate(flags.rate)
    profile = flags.profile === undefined ? undefined : parseProfile(flags.profile)
  } catch (err) {
    return usage((err as Error).message)
  }
  if (!existsSync(flags.fixture)) return usage(`fixture ${flags.fixture} not found`)
  const profileSeconds = profile === undefined ? null : profile.rates.length * profile.stepSeconds
  const durationSec = flags.duration ?? Math.min(MAX_DURATION_SEC, profileSeconds ?? (rate === 'max' ? 120 : 60))
  if (rate === 'max' && durationSec < flags.stepSeconds) return usage(`--duration ${durationSec} is shorter than one probe (--step-seconds ${flags.stepSeconds})`)

  const tty = process.stdout.isTTY === true
  let loggedAtSec: number | null = null
  // First Ctrl-C/SIGTERM: end the load now, then drain, check and write the report as usual
  // (the children run in their own process group, so the terminal's signal does not reach them).
  // A second one quits at once.
  const interrupt = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
    interrupt.abort()
    process.stderr.write(`\nfirehose loadtest: ${signal}: ending the load; draining, checking and writing the report (again to quit at once)\n`)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const result = await runLoadtest(
      {
        fixture: resolve(flags.fixture),
        rate: rate ?? null,
        profile: profile ?? null,
        durationSec,
        stepSeconds: flags.stepSeconds,
        maxLagMs: flags.maxLagMs,
        redisUrl: flags.redis ?? null,
        seed: flags.seed ?? SeededRandom.freshSeed(),
        drainTimeoutSec: flags.drainTimeout,
      },
      (progress) => {
        if (tty) process.stdout.write(progressLine(progress))
        else if (loggedAtSec === null || progress.elapsedSec - loggedAtSec >= PROGRESS_LOG_SECONDS) {
          // Not a terminal (CI, a log file): the first sample says the load runs, then one line per interval.
          loggedAtSec = progress.elapsedSec
          process.stderr.write(`firehose loadtest: ${progressText(progress)}\n`)
        }
      },
      interrupt.signal,
    )
    if (tty) process.stdout.write('\n')
    const paths = await writeReports(resolve(flags.report), result)
    process.stdout.write(`${formatTable([...summaryRows(result), ['report', `${paths.json}, ${paths.html}`]])}\n`)
    return result.verdict.pass ? ExitCode.Ok : ExitCode.Failed
  } catch (err) {
    if (tty) process.stdout.write('\n')
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]
    if (err instanceof LoadtestError && err.code === LoadtestErrorCode.BadInput) return usage(message!)
    process.stderr.write(`firehose loadtest: ${message}\n`)
    return ExitCode.Error
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function loadLoadtest() {
  return {
    ...(await import('../../loadtest/run.js')),
    ...(await import('../../loadtest/report-json.js')),
    ...(await import('../../loadtest/progress.js')),
    ...(await import('../../loadtest/summary.js')),
    ...(await import('../../loadtest/errors.js')),
    ...(await import('../../loadtest/profile.js')),
  }
}

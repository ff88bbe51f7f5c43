import type { Command } from 'commander'
import { SeededRandom } from '../../common/random.js'
import { FixtureError } from '../../protocol/fixture/errors.js'
import { integer, nonEmpty, option, positiveNumber } from '../options.js'
import { action, ExitCode } from '../run.js'

interface GenerateFlags {
  out: string
  events: number
  accounts?: number
  seed?: number
  workers?: number
  firstSeq?: number
  rate?: number
  repoRecords?: number
  info?: boolean
  fromCreation?: boolean
  activityExponent?: number
}

/**
 * Bounds that keep one run to minutes and memory to a few GB: an event costs ~1 ms of CPU
 * (docs/generator.md) and an account ~5 ms and tens of KB before its first event.
 */
const MAX_EVENTS = 1_000_000
const MAX_ACCOUNTS = 50_000

/** `firehose fixture generate`: a deterministic fixture of signed commits and identity/account/sync events. */
export function registerFixtureGenerate(fixture: Command): void {
  fixture
    .command('generate')
    .description('generate realistic, signed firehose frames (plus FILE.did-docs.json to verify them); same seed, same bytes')
    .addOption(option('--out <file>', 'fixture to write (.gz/.zst by extension)', 'FIREHOSE_OUT', nonEmpty).makeOptionMandatory())
    .addOption(
      option(
        '--events <n>',
        `number of frames, at most ${MAX_EVENTS.toLocaleString('en')} (for more, generate several with --first-seq and replay them in order)`,
        'FIREHOSE_EVENTS',
        integer(1, MAX_EVENTS),
      ).makeOptionMandatory(),
    )
    .addOption(option('--accounts <n>', `accounts in the simulated network (default events/20, min 10; at most ${MAX_ACCOUNTS.toLocaleString('en')})`, 'FIREHOSE_ACCOUNTS', integer(2, MAX_ACCOUNTS)))
    .addOption(option('--seed <n>', 'random seed (default: fresh, printed)', 'FIREHOSE_SEED', integer(0, 0xffffffff)))
    .addOption(option('--workers <n>', 'worker threads (0: this thread; default by size and cores)', 'FIREHOSE_WORKERS', integer(0, 64)))
    .addOption(option('--first-seq <n>', 'seq of the first event (default 20000000001)', 'FIREHOSE_FIRST_SEQ', integer(1)))
    .addOption(option('--rate <events/s>', 'mean event rate of the simulated relay (default 800)', 'FIREHOSE_RATE', positiveNumber(1_000_000)))
    .addOption(option('--repo-records <n>', 'median records per pre-existing repo (default 60; smaller repos, smaller frames)', 'FIREHOSE_REPO_RECORDS', integer(1, 100_000)))
    .addOption(
      option(
        '--activity-exponent <e>',
        'skew of who writes: the i-th most active account acts in proportion to 1/i^e (default 0.7, at most 3; ~1.1 with --accounts near --events: a few busy accounts, most seen once)',
        'FIREHOSE_ACTIVITY_EXPONENT',
        positiveNumber(3),
      ),
    )
    .addOption(option('--info', 'start with one #info OutdatedCursor frame', 'FIREHOSE_INFO'))
    .addOption(
      option(
        '--from-creation',
        "every repo starts in the fixture: an existing account's first event follows a commit creating its whole repo (so `firehose replay` can serve getRepo for every DID)",
        'FIREHOSE_FROM_CREATION',
      ),
    )
    .action(action((flags: GenerateFlags) => generate(flags)))
}

async function generate(flags: GenerateFlags): Promise<ExitCode> {
  const seed = flags.seed ?? SeededRandom.freshSeed()
  // Loaded here: @atproto/repo and crypto are heavy, and other commands must not pay for them.
  const { didDocsPathFor, generateFixture } = await import('../../generator/index.js')
  const { progressBar } = await import('../../generator/progress.js')
  const bar = progressBar(process.stderr, 'generating')
  const started = performance.now()
  let manifest
  try {
    manifest = await generateFixture({
      out: flags.out,
      events: flags.events,
      seed,
      onProgress: bar?.update,
      ...(flags.accounts !== undefined ? { accounts: flags.accounts } : {}),
      ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
      ...(flags.firstSeq !== undefined ? { firstSeq: flags.firstSeq } : {}),
      ...(flags.rate !== undefined ? { eventsPerSecond: flags.rate } : {}),
      ...(flags.repoRecords !== undefined ? { medianRecords: flags.repoRecords } : {}),
      ...(flags.activityExponent !== undefined ? { activityExponent: flags.activityExponent } : {}),
      ...(flags.info === true ? { infoFrame: true } : {}),
      ...(flags.fromCreation === true ? { fromCreation: true } : {}),
    })
  } catch (err) {
    bar?.end()
    // An unwritable --out is the user's environment, not a bug: one line, exit 3.
    if (!(err instanceof FixtureError)) throw err
    process.stderr.write(`firehose fixture generate: ${err.message} [${err.code}] (seed ${seed})\n`)
    return ExitCode.Error
  }
  bar?.end()
  const seconds = (performance.now() - started) / 1000
  const counts = Object.entries(manifest.countsByType)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ')
  process.stdout.write(
    `${flags.out}: ${manifest.frameCount} frames (${counts}), seq ${manifest.firstSeq}..${manifest.lastSeq}, seed ${seed}\n` +
      `DID documents: ${didDocsPathFor(flags.out)}\n` +
      `${seconds.toFixed(1)} s, ${Math.round(manifest.frameCount / seconds)} events/s\n`,
  )
  return ExitCode.Ok
}

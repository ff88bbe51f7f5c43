import { InvalidArgumentError, type Command } from 'commander'
import { createLogger } from '../../common/logger.js'
import { SeededRandom } from '../../common/random.js'
import { ReplayError, ReplayErrorCode } from '../../replay/errors.js'
import { loadFaultPlan, parseFaultFlag } from '../../replay/faults.js'
import type { FaultSpec, ReplayHandle, ReplayRate } from '../../replay/index.js'
import { DEFAULT_MAX_CLIENTS } from '../../replay/types.js'
import { integer, oneOf, option, positiveNumber } from '../options.js'
import { action, ExitCode } from '../run.js'

interface ReplayFlags {
  host: string
  port: number
  rate?: number
  speed?: number
  original?: boolean
  max?: boolean
  loop?: boolean
  start: 'paused' | 'now' | 'first-client'
  window: number
  outbox: number
  stuckAfter: number
  relayQuirks?: boolean
  faults?: string
  fault?: FaultSpec[]
  seed?: number
  pingInterval: number
  preloadMb: number
  maxClients: number
}

const RATE_FLAGS = ['rate', 'speed', 'original', 'max']

/** `firehose replay`: a fake relay serving fixture files (docs/replay.md). */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('serve fixture files as a relay firehose (subscribeRepos) with real cursor semantics, rate control and fault injection')
    .argument('<files...>', 'fixture files, played in order (rotated recordings: NAME.000.gz NAME.001.gz ...)')
    .addOption(option('--host <host>', 'interface to listen on', 'FIREHOSE_REPLAY_HOST', undefined, '127.0.0.1'))
    .addOption(option('--port <port>', 'port (0 = any free port)', 'FIREHOSE_REPLAY_PORT', integer(0, 65_535), 0))
    .addOption(option('--rate <events/s>', 'fixed rate (token bucket)', 'FIREHOSE_REPLAY_RATE', positiveNumber(10_000_000)).conflicts(RATE_FLAGS.filter((f) => f !== 'rate')))
    .addOption(option('--speed <x>', 'recorded timing sped up x times', 'FIREHOSE_REPLAY_SPEED', positiveNumber(1_000_000)).conflicts(RATE_FLAGS.filter((f) => f !== 'speed')))
    .addOption(option('--original', 'recorded timing', 'FIREHOSE_REPLAY_ORIGINAL').conflicts(RATE_FLAGS.filter((f) => f !== 'original')))
    .addOption(option('--max', 'as fast as the clients take frames (default)', 'FIREHOSE_REPLAY_MAX').conflicts(RATE_FLAGS.filter((f) => f !== 'max')))
    .addOption(option('--loop', 'play the files again forever, seqs shifted past the previous round', 'FIREHOSE_REPLAY_LOOP'))
    .addOption(option('--start <when>', 'start the timeline now, paused (POST /_replay/resume) or at the first subscriber', 'FIREHOSE_REPLAY_START', oneOf(['paused', 'now', 'first-client'] as const), 'now'))
    .addOption(option('--window <frames>', 'frames kept for cursor replays (also capped at 256 MiB)', 'FIREHOSE_REPLAY_WINDOW', integer(1, 100_000_000), 100_000))
    .addOption(option('--outbox <frames>', 'frames a client may owe before ConsumerTooSlow', 'FIREHOSE_REPLAY_OUTBOX', integer(1, 100_000_000), 16_384))
    .addOption(option('--stuck-after <ms>', '--max stops waiting for a client whose socket has not drained this long (its outbox then overflows)', 'FIREHOSE_REPLAY_STUCK_AFTER', integer(1, 3_600_000), 10_000))
    .addOption(option('--relay-quirks', 'behave like the Go relay: future cursor goes live, bad cursor is HTTP 400, no OutdatedCursor frame', 'FIREHOSE_REPLAY_RELAY_QUIRKS'))
    .addOption(option('--faults <plan.json>', 'fault plan file (docs/replay.md)', 'FIREHOSE_REPLAY_FAULTS'))
    .addOption(option('--fault <spec>', 'one fault, repeatable: KIND[:key=value,...] e.g. drop:atFrame=500', 'FIREHOSE_REPLAY_FAULT').argParser(collectFault))
    .addOption(option('--seed <n>', 'seed for fault ranges and garbage bytes (default: plan seed, else fresh)', 'FIREHOSE_REPLAY_SEED', integer(0, 0xffff_ffff)))
    .addOption(option('--preload-mb <mib>', 'keep fixtures up to this size in memory after the start-up check (0 = always stream from disk)', 'FIREHOSE_REPLAY_PRELOAD_MB', integer(0, 1_048_576), 256))
    .addOption(option('--ping-interval <ms>', 'server ping interval; a client missing a pong is dropped', 'FIREHOSE_REPLAY_PING_INTERVAL', integer(100, 3_600_000), 30_000))
    .addOption(
      option('--max-clients <n>', 'connected clients at most; a subscription beyond gets HTTP 503 (counted as clientsRefused in /_replay/status)', 'FIREHOSE_REPLAY_MAX_CLIENTS', integer(1, 100_000), DEFAULT_MAX_CLIENTS),
    )
    .action(action(replay))
}

function collectFault(value: string, previous: FaultSpec[] | undefined): FaultSpec[] {
  try {
    return [...(previous ?? []), parseFaultFlag(value)]
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

function rateFrom(flags: ReplayFlags): ReplayRate {
  if (flags.rate !== undefined) return { mode: 'rate', eventsPerSec: flags.rate }
  if (flags.speed !== undefined) return { mode: 'speed', multiplier: flags.speed }
  if (flags.original === true) return { mode: 'original' }
  return { mode: 'max' }
}

async function replay(files: string[], flags: ReplayFlags): Promise<ExitCode> {
  const fail = (err: unknown): ExitCode => {
    process.stderr.write(`firehose replay: ${err instanceof Error ? err.message : String(err)}\n`)
    if (err instanceof ReplayError) return err.code === ReplayErrorCode.BadFixture ? ExitCode.Error : ExitCode.Usage
    return ExitCode.Error
  }
  const logger = createLogger({ name: 'firehose-replay' })
  let handle: ReplayHandle
  try {
    const plan = flags.faults === undefined ? { faults: [] } : await loadFaultPlan(flags.faults)
    const seed = flags.seed ?? plan.seed ?? SeededRandom.freshSeed()
    // Loaded here so that other commands do not pay for the server's modules.
    const { startReplay } = await import('../../replay/index.js')
    handle = await startReplay({
      files,
      host: flags.host,
      port: flags.port,
      rate: rateFrom(flags),
      loop: flags.loop === true,
      start: flags.start,
      window: flags.window,
      outbox: flags.outbox,
      stuckAfterMs: flags.stuckAfter,
      relayQuirks: flags.relayQuirks === true,
      faults: [...plan.faults, ...(flags.fault ?? [])],
      seed,
      logger,
      pingIntervalMs: flags.pingInterval,
      preloadMaxBytes: flags.preloadMb * 1024 * 1024,
      maxClients: flags.maxClients,
    })
    logger.info({ control: `${handle.httpUrl}/_replay/status`, seed }, 'replay ready')
  } catch (err) {
    return fail(err)
  }
  // The URL is the command's output: scripts read the first stdout line.
  process.stdout.write(`${handle.url}\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await handle.close()
  logger.info({ frames: handle.status().framesPublished }, 'replay stopped')
  return ExitCode.Ok
}

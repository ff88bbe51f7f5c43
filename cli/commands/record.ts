import type { Command } from 'commander'
import { createLogger } from '../../common/logger.js'
import type { RecorderHandle } from '../../recorder/index.js'
import { integer, option, positiveNumber, relayUrl } from '../options.js'
import { action, ExitCode } from '../run.js'

interface RecordOptions {
  relay: string
  out: string
  cursor?: number
  limit?: number
  duration?: number
  rotateMb?: number
  level?: number
  maxMessageMb: number
}

/** `firehose record`: live relay frames into a fixture file, byte-for-byte with receive times. */
export function registerRecord(program: Command): void {
  program
    .command('record')
    .description('record relay frames byte-for-byte into a fixture file (.gz/.zst by extension); resumes from the last seq after disconnects')
    .addOption(option('--relay <url>', 'relay host (bsky.network), ws(s) origin or full xrpc URL', 'FIREHOSE_RELAY', relayUrl).makeOptionMandatory())
    .addOption(option('--out <file>', 'fixture file to write (rotated: FILE.000.gz, FILE.001.gz, ...)', 'FIREHOSE_OUT').makeOptionMandatory())
    .addOption(option('--cursor <seq>', 'start after this seq (default: live tail)', 'FIREHOSE_CURSOR', integer(0)))
    .addOption(option('--limit <frames>', 'stop after this many frames', 'FIREHOSE_LIMIT', integer(1)))
    .addOption(option('--duration <seconds>', 'stop after this many seconds', 'FIREHOSE_DURATION', positiveNumber()))
    .addOption(option('--rotate-mb <mb>', 'start a new file after this many MB on disk', 'FIREHOSE_ROTATE_MB', positiveNumber()))
    .addOption(option('--level <n>', 'compression level (gzip 1-9, zstd 1-19); default 1, fast enough for live capture', 'FIREHOSE_LEVEL', integer(1, 19)))
    .addOption(option('--max-message-mb <mib>', 'largest relay message accepted; a larger one ends the connection and is retried with backoff (docs/relay-client.md)', 'FIREHOSE_MAX_MESSAGE_MB', integer(1, 1024), 16))
    .action(action(record))
}

async function record(options: RecordOptions): Promise<ExitCode> {
  const logger = createLogger({ name: 'firehose-record' })
  // Loaded here so that other commands do not pay for the recorder's modules.
  const { startRecorder } = await import('../../recorder/index.js')
  const { formatSummary, startProgress } = await import('../../recorder/progress.js')
  let handle: RecorderHandle
  try {
    handle = await startRecorder({
      relay: options.relay,
      out: options.out,
      cursor: options.cursor ?? null,
      ...(options.limit !== undefined && { limit: options.limit }),
      ...(options.duration !== undefined && { durationSec: options.duration }),
      ...(options.rotateMb !== undefined && { rotateMb: options.rotateMb }),
      ...(options.level !== undefined && { compressionLevel: options.level }),
      relayClient: { maxPayloadBytes: options.maxMessageMb * 1024 * 1024 },
      logger,
    })
  } catch (err) {
    process.stderr.write(`firehose record: ${err instanceof Error ? err.message : String(err)}\n`)
    return ExitCode.Error
  }
  const progress = startProgress(handle)
  // First signal: finish cleanly (the file is finalised). Second: exit now; the file is readable
  // up to the last flush (at most a second old).
  const onSignal = (signal: NodeJS.Signals): void => {
    if (handle.status().state !== 'recording') process.exit(130)
    logger.info({ signal }, 'stopping the recording')
    void handle.stop(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const summary = await handle.done
    progress.stop()
    process.stderr.write(`${formatSummary(summary)}\n`)
    return ExitCode.Ok
  } catch (err) {
    progress.stop()
    process.stderr.write(`firehose record: ${err instanceof Error ? err.message : String(err)}\n`)
    return ExitCode.Error
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

import type { Command } from 'commander'
import { describeSeqs, checkStream, expectedEntriesFromFixture, type StreamCheckResult } from '../../harness/stream-checker.js'
import { redactUrl } from '../../common/logger.js'
import { nonEmpty, option, url } from '../options.js'
import { action, ExitCode } from '../run.js'

interface VerifyOptions {
  fixture: string
  redis: string
  stream: string
  json?: boolean
}

/** `firehose verify`: compares a Redis stream with the entries a fixture should have produced. */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check a Redis stream against a fixture: missing, duplicated, out-of-order, mismatched entries (exit 1 if any)')
    .addOption(option('--fixture <file>', 'fixture file the stream was ingested from', 'FIREHOSE_FIXTURE', nonEmpty).makeOptionMandatory())
    .addOption(option('--redis <url>', 'Redis URL', 'REDIS_URL', url(['redis:', 'rediss:']), 'redis://127.0.0.1:6379'))
    .addOption(option('--stream <key>', 'stream key', 'REDIS_STREAM_KEY', nonEmpty, 'firehose:events'))
    .addOption(option('--json', 'print the full result as one JSON line', 'FIREHOSE_JSON'))
    .action(action(verify))
}

async function verify(options: VerifyOptions): Promise<ExitCode> {
  let result: StreamCheckResult
  try {
    const expected = await expectedEntriesFromFixture(options.fixture)
    result = await checkStream({ redisUrl: options.redis, stream: options.stream, expected })
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    process.stderr.write(`firehose verify: ${reason.replaceAll(options.redis, redactUrl(options.redis))}\n`)
    return ExitCode.Error
  }
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ fixture: options.fixture, stream: options.stream, ...result })}\n`)
  } else {
    process.stdout.write(
      [
        `stream ${options.stream} at ${redactUrl(options.redis)} vs ${options.fixture}`,
        `expected:     ${result.expected}`,
        `delivered:    ${result.delivered}`,
        `missing:      ${describeSeqs(result.lost)}`,
        `duplicated:   ${describeSeqs(result.duplicated)}`,
        `out-of-order: ${describeSeqs(result.outOfOrder)}`,
        `mismatched:   ${describeSeqs(result.mismatched)}`,
        `unexpected:   ${describeSeqs(result.unexpected)}`,
        result.ok ? 'OK' : 'FAILED',
        '',
      ].join('\n'),
    )
  }
  return result.ok ? ExitCode.Ok : ExitCode.Failed
}

import { existsSync } from 'node:fs'
import { DEFAULT_REDIS_URL, deadLetterStreamOf, didKeyCacheKeysOf, repoStateKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { createLogger, redactUrl, type Logger } from '../../common/logger.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import type { IngestorHandle } from '../../ingestor/index.js'
import type { ReplayHandle } from '../../replay/index.js'
import { option, positiveNumber, url } from '../options.js'
import { loadDevTool } from '../dev-tools.js'
import { action, ExitCode } from '../run.js'

interface DemoFlags {
  fixture: string
  redis?: string
  keep?: boolean
  timeout: number
}

const DEFAULT_FIXTURE = fileURLToPath(new URL('../../../fixtures/generated.fixture.gz', import.meta.url))

/**
 * `firehose demo`: the production path, fully offline. The committed fixture is served by the
 * replay server, ingested into Redis by the real ingestor, and the stream is checked against
 * the fixture. Uses a fresh stream key per run so an existing Redis is never disturbed.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('offline demo: replay the committed fixture through the ingestor into Redis and check the stream')
    .addOption(option('--fixture <file>', 'fixture to replay', 'FIREHOSE_FIXTURE', undefined, DEFAULT_FIXTURE))
    .addOption(option('--redis <url>', 'Redis to use (default: REDIS_URL or 127.0.0.1:6379 if it answers, else a redis-server started for the demo)', 'REDIS_URL', url(['redis:', 'rediss:'])))
    .addOption(option('--keep', 'keep the demo stream and cursor keys in an existing Redis', 'FIREHOSE_DEMO_KEEP'))
    .addOption(option('--timeout <seconds>', 'give up after this long', 'FIREHOSE_DEMO_TIMEOUT', positiveNumber(86_400), 120))
    .showHelpAfterError(false)
    .action(action(demo))
}

async function demo(flags: DemoFlags, command: Command): Promise<ExitCode> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`)
  const fail = (line: string): ExitCode => {
    process.stderr.write(`firehose demo: ${line}\n`)
    return ExitCode.Error
  }
  if (!existsSync(flags.fixture)) {
    return fail(`fixture ${flags.fixture} not found (it is committed as fixtures/generated.fixture.gz; regenerate it with the fixture generator, or pass --fixture FILE)`)
  }
  // Loaded here, not at the top, so that other commands do not pay for these modules.
  const { checkStream, describeSeqs, expectedEntriesFromFixture } = await import('../../stream-check/stream-checker.js')
  const { pollUntil } = await import('../../common/wait.js')
  const { startIngestor } = await import('../../ingestor/index.js')
  const { startReplay } = await import('../../replay/index.js')
  const logger = createLogger({ name: 'firehose-demo', level: process.env.FIREHOSE_LOG_LEVEL ?? 'warn' })
  // --redis on the command line must answer; REDIS_URL or the default may fall back to our own server.
  const explicit = command.getOptionValueSource('redis') === 'cli'
  const redis = await demoRedis(flags.redis ?? DEFAULT_REDIS_URL, explicit, logger)
  if (typeof redis === 'string') return fail(redis)

  const runId = `firehose:demo:${new Date().toISOString().replace(/[-:.]/g, '')}`
  const keys = { stream: `${runId}:events`, cursorKey: `${runId}:cursor` }
  let replay: ReplayHandle | null = null
  let ingestor: IngestorHandle | null = null
  try {
    say(`fixture:  ${flags.fixture}`)
    say(`redis:    ${redactUrl(redis.url)} (${redis.owned ? 'redis-server started for this demo, removed afterwards' : 'existing server; nothing but the keys below is touched'})`)
    say(`stream:   ${keys.stream} (cursor ${keys.cursorKey})`)
    const expected = await expectedEntriesFromFixture(flags.fixture)
    replay = await startReplay({ files: [flags.fixture], logger })
    const startedAt = performance.now()
    // Per-repo state and verification as `firehose ingest` runs by default; keys and resyncs (none in this fixture) come from the replay, the fixture's
    // PLC directory and PDS. A fixture without DID documents (a recording) cannot be verified offline: its commits would all be dead-lettered.
    const verify = replay.didDocuments > 0
    say(`verify:   ${verify ? `signatures and MST proofs, keys of ${replay.didDocuments} DIDs from the replay's PLC directory` : 'off: the fixture has no DID documents (.did-docs.json)'}`)
    ingestor = await startIngestor({ relayUrl: replay.url, redisUrl: redis.url, ...keys, startCursor: 0, statusIntervalMs: 0, logger, verify, plcUrl: replay.plcUrl, allowPrivateHosts: true })
    const running = ingestor
    const relay = replay
    const timeoutMs = flags.timeout * 1000
    const ingested = await pollUntil(
      () => {
        const head = relay.status().headSeq
        return relay.status().finished && head !== null && (running.status().storedCursor ?? -1) >= head
      },
      { timeoutMs, intervalMs: 50 },
    )
    if (!ingested) return fail(`timed out after ${timeoutMs} ms waiting for every fixture frame in the stream`)
    const seconds = (performance.now() - startedAt) / 1000
    await ingestor.stop()
    const status = ingestor.status()
    const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected, repoState: true })
    say(
      `ingested: ${status.counters.eventsWritten} events in ${seconds.toFixed(2)} s (${Math.round(status.counters.eventsWritten / seconds)} events/s), ` +
        `${status.counters.verifiedFrames} verified, ${status.counters.deadLettered} dead-lettered, ${status.counters.unknownTypes} unknown types skipped`,
    )
    say(
      `check:    expected ${result.expected}, delivered ${result.delivered}, missing ${describeSeqs(result.lost)}, duplicated ${describeSeqs(result.duplicated)}, ` +
        `out of order ${describeSeqs(result.outOfOrder)}, mismatched ${describeSeqs(result.mismatched)}, unexpected ${describeSeqs(result.unexpected)}`,
    )
    say(
      `repos:    ${status.counters.repoSyncRevOnly} #sync withheld (same MST root: nothing to publish), ${result.withheld.commits.length} commits withheld, ${status.counters.resyncsSucceeded} repos resynced (docs/repo-sync.md)`,
    )
    say(result.ok ? 'OK: every fixture event is in the stream exactly once, in order (#sync withheld by per-repo state)' : 'FAILED: the stream does not match the fixture')
    if (!redis.owned && flags.keep === true)
      say(`kept:     inspect with XRANGE ${keys.stream} - + COUNT 5; delete with DEL ${keys.stream} ${keys.cursorKey} ${repoStateKeyOf(keys.stream)} ${Object.values(didKeyCacheKeysOf(keys.stream)).join(' ')}`)
    return result.ok ? ExitCode.Ok : ExitCode.Failed
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err))
  } finally {
    await ingestor?.stop()
    await replay?.close()
    if (!redis.owned && flags.keep !== true)
      await deleteDemoKeys(redis.url, [keys.stream, keys.cursorKey, deadLetterStreamOf(keys.stream), repoStateKeyOf(keys.stream), snapshotProgressKeyOf(keys.stream), ...Object.values(didKeyCacheKeysOf(keys.stream))])
    await redis.handle?.stop()
  }
}

type DemoRedis = { url: string; owned: boolean; handle: RedisHandle | null }

/** The given/ambient Redis if it answers PING, else a redis-server child, else a message saying how to get one. */
async function demoRedis(candidate: string, explicit: boolean, logger: Logger): Promise<DemoRedis | string> {
  const { openRedisClient } = await import('../../common/redis-open.js')
  try {
    const client = await openRedisClient(candidate)
    await client.ping()
    client.disconnect()
    return { url: candidate, owned: false, handle: null }
  } catch (err) {
    if (explicit) return `Redis at ${redactUrl(candidate)} does not answer: ${(err as Error).message}`
    logger.info({ redis: redactUrl(candidate) }, 'no Redis there; starting a redis-server for the demo')
  }
  try {
    // Loaded only here: the Redis providers pull in testcontainers, too slow for every CLI start.
    const { startRedis } = await loadDevTool('demo without a Redis', () => import('../../harness/redis/index.js'))
    const handle = await startRedis({ kind: 'process' })
    return { url: handle.url, owned: true, handle }
  } catch (err) {
    return (
      `no Redis available: ${redactUrl(candidate)} does not answer and redis-server could not be started (${(err as Error).message.split('\n')[0]}). ` +
      'Install Redis (apt-get install redis-server, brew install redis) or point REDIS_URL at one, e.g. docker run -p 6379:6379 redis:7'
    )
  }
}

async function deleteDemoKeys(redisUrl: string, keys: string[]): Promise<void> {
  const { openRedisClient } = await import('../../common/redis-open.js')
  // Best effort: the summary already named the keys.
  const client = await openRedisClient(redisUrl).catch(() => null)
  await client?.del(...keys).catch(() => undefined)
  client?.disconnect()
}

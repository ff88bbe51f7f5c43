import { format } from 'node:util'
import { DEFAULT_REDIS_URL, DEFAULT_RELAY_HOST } from '../../common/contract.js'
import type { Command } from 'commander'
import { createLogger, redactText, type Logger } from '../../common/logger.js'
import { IngestorError, IngestorErrorCode, RedisConfigError } from '../../ingestor/errors.js'
import type { IngestorHandle, IngestorOptions } from '../../ingestor/index.js'
import { parseCrashAt } from '../../ingestor/crash-points.js'
import { DEAD_LETTER_WHOLE_BYTES } from '../../ingestor/dead-letter.js'
import { collectionPatternError, eventTypeError, type EventType } from '../../ingestor/event-filter.js'
import { INGESTOR_DEFAULTS, LEASE_TTL_MAX_MS, LEASE_TTL_MIN_MS, MAX_SHARDS, type FutureCursorPolicy } from '../../ingestor/options.js'
import type { TrimMode } from '../../ingestor/redis-sink.js'
import type { BlockVerification } from '../../protocol/car.js'
import { backfillSpec, integer, list, nonEmpty, oneOf, option, positiveNumber, redisUrl, relayList, relayUrl, url, type BackfillSpec } from '../options.js'
import { listFromOption } from '../stream-options.js'
import { invalidOptionUsage } from '../ingest-usage.js'
import { action, ExitCode } from '../run.js'

interface IngestFlags {
  /** Unset: bsky.network. */
  relay?: string[]
  failoverAfter: number
  primaryProbeInterval: number
  redis: string
  redisCa?: string
  redisCert?: string
  redisKey?: string
  redisServername?: string
  stream: string
  cursorKey: string
  cursor?: number
  forceCursor?: boolean
  maxLen?: number
  trim: TrimMode
  stallTimeout: number
  maxMessageMb: number
  onFutureCursor: FutureCursorPolicy
  batchSize: number
  writeMaxFrames: number
  queueSize: number
  queueMb: number
  maxBadFrames: number
  deadLetterMaxMb: number
  decodeWorkers: number
  verifyBlocks: BlockVerification
  collections?: string[]
  types?: EventType[]
  verify?: boolean
  plcUrl: string
  didCacheSize: number
  plcRps: number
  didSharedCacheSize: number
  verifyWorkers: number
  repoState?: boolean
  resyncFrom?: string
  allowPrivateHosts?: boolean
  resyncConcurrency: number
  repoStateCacheSize: number
  snapshotPartRecords: number
  healthPort?: number
  healthHost: string
  readyWriteTimeout: number
  statusInterval: number
  ha?: boolean
  leaseKey?: string
  leaseTtl: number
  shards: number
  redisCluster?: boolean
  legacyCursorKey?: string
  backfill?: BackfillSpec
  listFrom: string
}

/**
 * The seed (Python) consumer's environment variables keep working unchanged for these flags;
 * every other flag falls back to FIREHOSE_<FLAG>. Flags win over both.
 */
const LEGACY_ENV = {
  relay: 'RELAY_URL',
  redis: 'REDIS_URL',
  stream: 'REDIS_STREAM_KEY',
  cursorKey: 'REDIS_CURSOR_KEY',
  maxLen: 'REDIS_MAX_STREAM_LEN',
} as const

/** One line on stderr; Redis refusing the configuration (RedisConfigError) is ExitCode.Config, anything else ExitCode.Error. */
function failed(err: unknown): ExitCode {
  const message = (err instanceof Error ? err.message : format('%s', err ?? 'failed')).replace(/\s+/g, ' ')
  if (err instanceof RedisConfigError) {
    process.stderr.write(`firehose ingest: ${redactText(message)} [${err.code}]\n`)
    return ExitCode.Config
  }
  // --cursor against a different stored cursor (an operator decision), or options the library
  // refuses together (resolveOptions): nothing was done.
  if (err instanceof IngestorError && err.code === IngestorErrorCode.CursorConflict) {
    process.stderr.write(`firehose ingest: ${redactText(message)}\n`)
    return ExitCode.Usage
  }
  if (err instanceof IngestorError && err.code === IngestorErrorCode.InvalidOption) {
    // The library names its option and unit (leaseTtlMs); the user typed the flag (--lease-ttl, seconds).
    process.stderr.write(`firehose ingest: ${redactText(invalidOptionUsage(err))}\n`)
    return ExitCode.Usage
  }
  process.stderr.write(`firehose ingest: ${redactText(message)}\n`)
  return ExitCode.Error
}

/** After the first SIGINT/SIGTERM the drain gets this long before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('ingest a relay firehose into a Redis stream, exactly once (cursor stored atomically with each batch)')
    .addOption(option('--relay <url>', 'relay host or full subscribeRepos URL (default: bsky.network); repeat it (or a,b) for fallback relays, the first is the primary', LEGACY_ENV.relay).argParser(relayList))
    .addOption(
      option(
        '--failover-after <n>',
        'with several --relay: move to the next relay after n connection attempts in a row without a frame (a stall moves at once)',
        'FIREHOSE_FAILOVER_AFTER',
        integer(1, 1_000),
        INGESTOR_DEFAULTS.failoverAfter,
      ),
    )
    .addOption(
      option(
        '--primary-probe-interval <seconds>',
        'with several --relay: while on a fallback, probe the primary this often; back to it once it delivers a frame',
        'FIREHOSE_PRIMARY_PROBE_INTERVAL',
        positiveNumber(86_400),
        INGESTOR_DEFAULTS.primaryProbeIntervalMs / 1000,
      ),
    )
    .addOption(option('--redis <url>', 'Redis URL: redis[s]://[[user]:password@]host[:port][/db]', LEGACY_ENV.redis, redisUrl, DEFAULT_REDIS_URL))
    .addOption(option('--redis-ca <file>', "rediss://: PEM CA bundle the server certificate must chain to (default: Node's CAs)", 'FIREHOSE_REDIS_CA', nonEmpty))
    .addOption(option('--redis-cert <file>', 'rediss://: PEM client certificate (with --redis-key)', 'FIREHOSE_REDIS_CERT', nonEmpty))
    .addOption(option('--redis-key <file>', 'rediss://: PEM client private key (with --redis-cert)', 'FIREHOSE_REDIS_KEY', nonEmpty))
    .addOption(option('--redis-servername <name>', 'rediss://: TLS server name (SNI) the certificate must carry (default: the URL host)', 'FIREHOSE_REDIS_SERVERNAME', nonEmpty))
    .addOption(option('--redis-cluster', "--redis is a seed node of a Redis Cluster: the other nodes are discovered; each shard's keys share a hash slot (docs/scaling.md)", 'FIREHOSE_REDIS_CLUSTER'))
    .addOption(
      option(
        '--shards <n>',
        `split events by repo DID into n streams <stream>:0..<stream>:<n-1>, each with its own cursor (1 = the one stream; at most ${MAX_SHARDS}; docs/scaling.md)`,
        'FIREHOSE_SHARDS',
        integer(1, MAX_SHARDS),
        INGESTOR_DEFAULTS.shards,
      ),
    )
    .addOption(option('--stream <key>', 'stream key (dead letters go to <key>:dead)', LEGACY_ENV.stream, nonEmpty, INGESTOR_DEFAULTS.stream))
    .addOption(option('--cursor-key <key>', 'Redis key holding the cursor', LEGACY_ENV.cursorKey, nonEmpty, INGESTOR_DEFAULTS.cursorKey))
    .addOption(
      option(
        '--legacy-cursor-key <key>',
        'cursor key of the consumer this replaces (e.g. firehose:python_cursor): taken over at the first start (past the entries it wrote after it), then kept equal to ours in every write so it can be restarted where we stopped (docs/migration.md)',
        'FIREHOSE_LEGACY_CURSOR_KEY',
        nonEmpty,
      ),
    )
    .addOption(option('--cursor <seq>', 'start from this seq instead of the stored cursor', 'FIREHOSE_CURSOR', integer(0)))
    .addOption(option('--force-cursor', 'let --cursor override a different stored cursor (writes events again, or skips them)', 'FIREHOSE_FORCE_CURSOR'))
    .addOption(option('--max-len <n>', 'keep the stream at about n entries; 0 = never trim', LEGACY_ENV.maxLen, integer(0)))
    .addOption(
      option(
        '--trim <mode>',
        'how --max-len trims: safe = only entries every consumer group has acknowledged, pausing ingestion while the stream is full; unsafe = XADD MAXLEN ~ (deletes unread entries)',
        'FIREHOSE_TRIM',
        oneOf(['safe', 'unsafe'] as const),
        'safe',
      ),
    )
    .addOption(option('--stall-timeout <seconds>', 'reconnect when the relay sends no frame this long (pongs do not count)', 'FIREHOSE_STALL_TIMEOUT', positiveNumber(3600), 30))
    .addOption(
      option(
        '--max-message-mb <mib>',
        'largest relay message accepted; a larger one ends the connection and is retried with backoff (docs/relay-client.md)',
        'FIREHOSE_MAX_MESSAGE_MB',
        integer(1, 1024),
        INGESTOR_DEFAULTS.maxMessageBytes / 1024 / 1024,
      ),
    )
    .addOption(option('--on-future-cursor <policy>', 'relay says FutureCursor: live = continue from its live tail, exit = drain and exit 1', 'FIREHOSE_ON_FUTURE_CURSOR', oneOf(['live', 'exit'] as const), 'live'))
    .addOption(option('--batch-size <frames>', 'frames per decode batch (and per write when Redis keeps up)', 'FIREHOSE_BATCH_SIZE', integer(1, 10_000), INGESTOR_DEFAULTS.batchSize))
    .addOption(
      option(
        '--write-max-frames <frames>',
        'most frames per atomic Redis write: batches decoded while a write is in flight are written together',
        'FIREHOSE_WRITE_MAX_FRAMES',
        integer(1, 100_000),
        INGESTOR_DEFAULTS.writeMaxFrames,
      ),
    )
    .addOption(option('--queue-size <frames>', 'queue bound between socket and Redis, in frames', 'FIREHOSE_QUEUE_SIZE', integer(1, 1_000_000), INGESTOR_DEFAULTS.queueFrames))
    .addOption(option('--queue-mb <mib>', 'queue bound in MiB of raw frames', 'FIREHOSE_QUEUE_MB', integer(1, 16_384), INGESTOR_DEFAULTS.queueBytes / 1024 / 1024))
    .addOption(option('--max-bad-frames <n>', 'reconnect after this many malformed frames in a row', 'FIREHOSE_MAX_BAD_FRAMES', integer(1, 1_000_000), INGESTOR_DEFAULTS.maxConsecutiveBadFrames))
    .addOption(
      option(
        '--dead-letter-max-mb <mib>',
        `most MiB the dead-letter stream <stream>:dead keeps (oldest trimmed first); frames over ${DEAD_LETTER_WHOLE_BYTES / 1024} KiB keep their first KiB, length and SHA-256`,
        'FIREHOSE_DEAD_LETTER_MAX_MB',
        integer(1, 1_048_576),
        INGESTOR_DEFAULTS.deadLetterMaxBytes / 1024 / 1024,
      ),
    )
    .addOption(option('--decode-workers <n>', 'worker threads decoding frames; 0 = decode on the main thread', 'FIREHOSE_DECODE_WORKERS', integer(0, 64), INGESTOR_DEFAULTS.decodeWorkers))
    .addOption(option('--verify-blocks <which>', 'CAR blocks that must hash to their CID: all, records (op records only, faster), none', 'FIREHOSE_VERIFY_BLOCKS', oneOf(['all', 'records', 'none'] as const), 'all'))
    .addOption(
      option(
        '--collections <list>',
        'publish only commit ops in these collections (NSIDs or prefix.* wildcards, comma-separated); a commit left without ops is not published, its seq still moves the cursor',
        'FIREHOSE_COLLECTIONS',
        list(collectionPatternError),
      ),
    )
    .addOption(option('--types <list>', 'publish only these event types (comma-separated: commit, identity, account, sync)', 'FIREHOSE_TYPES', list(eventTypeError) as (value: string) => EventType[]))
    .addOption(option('--verify', "check each commit signature and MST proof against the account's key (the default; for scripts that say so)", 'FIREHOSE_VERIFY', undefined, true))
    .addOption(
      option(
        '--no-verify',
        "publish commits without checking their signature and MST proofs (by default each is checked against the account's key, its DID resolved from the PLC directory or did:web, and a failure dead-lettered: docs/verify.md)",
        'FIREHOSE_NO_VERIFY',
      ),
    )
    .addOption(option('--plc-url <url>', 'with verification: PLC directory for did:plc documents', 'FIREHOSE_PLC_URL', url(['http:', 'https:']), INGESTOR_DEFAULTS.plcUrl))
    .addOption(option('--did-cache-size <n>', 'with verification: most DIDs whose signing key is cached (least recently used evicted)', 'FIREHOSE_DID_CACHE_SIZE', integer(1, 10_000_000), INGESTOR_DEFAULTS.didCacheSize))
    .addOption(
      option(
        '--plc-rps <n>',
        'with verification: most requests per second to the PLC directory; verification waits rather than going over it (did:web hosts not counted)',
        'FIREHOSE_PLC_RPS',
        integer(1, 100_000),
        INGESTOR_DEFAULTS.plcRps,
      ),
    )
    .addOption(
      option(
        '--did-shared-cache-size <n>',
        'with verification: most DID keys also cached in Redis (<stream>:did-keys, shared by --ha nodes and kept across restarts; those closest to expiry evicted); 0 = none',
        'FIREHOSE_DID_SHARED_CACHE_SIZE',
        integer(0, 100_000_000),
        INGESTOR_DEFAULTS.didSharedCacheSize,
      ),
    )
    .addOption(option('--verify-workers <n>', 'with verification: worker threads checking signatures and MST proofs; 0 = on the main thread', 'FIREHOSE_VERIFY_WORKERS', integer(0, 64), INGESTOR_DEFAULTS.verifyWorkers))
    .addOption(option('--repo-state', 'keep per-repo state (the default; for scripts that say so, and FIREHOSE_REPO_STATE shared with verify and compare)', 'FIREHOSE_REPO_STATE', undefined, true))
    .addOption(
      option(
        '--no-repo-state',
        "publish every event as decoded: no per-repo state, no resync, no repo snapshots, #sync published (by default a commit that does not continue its repo's chain, or a #sync to new data, resyncs the repo from getRepo and publishes a repo snapshot: docs/repo-sync.md)",
        'FIREHOSE_NO_REPO_STATE',
      ),
    )
    .addOption(option('--resync-from <url>', "with per-repo state: fetch getRepo from this relay or mirror instead of each DID's PDS", 'FIREHOSE_RESYNC_FROM', url(['http:', 'https:'])))
    .addOption(option('--allow-private-hosts', 'with per-repo state: a PDS may resolve to a private or loopback address (tests, private networks)', 'FIREHOSE_ALLOW_PRIVATE_HOSTS'))
    .addOption(
      option(
        '--backfill <what>',
        'also backfill the existing repos of all, collection:<nsid>[,<nsid>] or dids:<file>, listed from --list-from, as firehose backfill does (docs/backfill.md)',
        'FIREHOSE_BACKFILL',
        backfillSpec,
      ),
    )
    .addOption(listFromOption())
    .addOption(option('--resync-concurrency <n>', 'with per-repo state: repositories fetched at once (2 per host at most)', 'FIREHOSE_RESYNC_CONCURRENCY', integer(1, 256), INGESTOR_DEFAULTS.resyncConcurrency))
    .addOption(
      option(
        '--repo-state-cache-size <n>',
        'with per-repo state: most repo states kept in memory (others are read from Redis again)',
        'FIREHOSE_REPO_STATE_CACHE_SIZE',
        integer(1, 100_000_000),
        INGESTOR_DEFAULTS.repoStateCacheSize,
      ),
    )
    .addOption(
      option(
        '--snapshot-part-records <n>',
        'with per-repo state: records per snapshot part entry, at most (and 1 MiB of JSON)',
        'FIREHOSE_SNAPSHOT_PART_RECORDS',
        integer(1, 100_000),
        INGESTOR_DEFAULTS.snapshotPartRecords,
      ),
    )
    .addOption(option('--health-port <port>', 'serve GET /health (liveness), /ready and /metrics (Prometheus) on this port (0 = any free port)', 'FIREHOSE_HEALTH_PORT', integer(0, 65_535)))
    .addOption(option('--health-host <address>', 'address the health port listens on (0.0.0.0 = every interface, e.g. in a container)', 'FIREHOSE_HEALTH_HOST', nonEmpty, INGESTOR_DEFAULTS.healthHost))
    .addOption(
      option(
        '--ready-write-timeout <seconds>',
        'GET /ready fails when frames wait this long with no write acknowledged by Redis',
        'FIREHOSE_READY_WRITE_TIMEOUT',
        positiveNumber(86_400),
        INGESTOR_DEFAULTS.readyWriteTimeoutMs / 1000,
      ),
    )
    .addOption(option('--status-interval <seconds>', 'seconds between status lines', 'FIREHOSE_STATUS_INTERVAL', positiveNumber(86_400), 10))
    .addOption(option('--ha', 'high availability: write only while holding a lease in Redis, else wait as a standby; exits 5 when the lease is lost (docs/ingestor.md)', 'FIREHOSE_HA'))
    .addOption(option('--lease-key <key>', '--ha: Redis key of the lease (default: <cursor-key>:lease)', 'FIREHOSE_LEASE_KEY', nonEmpty))
    .addOption(
      option(
        '--lease-ttl <seconds>',
        `--ha: lease time to live, renewed every third of it; a standby takes over within about this long (${LEASE_TTL_MIN_MS / 1000} to ${LEASE_TTL_MAX_MS / 1000})`,
        'FIREHOSE_LEASE_TTL',
        positiveNumber(LEASE_TTL_MAX_MS / 1000),
        INGESTOR_DEFAULTS.leaseTtlMs / 1000,
      ),
    )
    .action(action(ingest))
}

async function ingest(flags: IngestFlags): Promise<ExitCode> {
  const usage = (reason: string): ExitCode => {
    process.stderr.write(`firehose ingest: ${reason}\n`)
    return ExitCode.Usage
  }
  if (flags.backfill !== undefined && flags.repoState === false) return usage('--backfill needs per-repo state: drop --no-repo-state (see --help)')
  const crashAt = process.env.FIREHOSE_CRASH_AT ?? null
  try {
    if (crashAt !== null && crashAt !== '') parseCrashAt(crashAt)
  } catch (err) {
    return usage((err as Error).message)
  }

  const logger = createLogger({ name: 'firehose-ingest' })
  // Handlers go in before the ingestor starts, so an early SIGTERM is a graceful stop too.
  let handle: IngestorHandle | null = null
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      // Every write is atomic with its cursor, so stopping mid-batch leaves Redis consistent.
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
    }
    logger.info({ signal }, 'signal: stopping gracefully (send again to exit at once)')
    setTimeout(() => {
      logger.error({ graceMs: SHUTDOWN_GRACE_MS }, 'drain did not finish in time; exiting (unwritten frames are fetched again from the stored cursor)')
      process.exit(ExitCode.Error)
    }, SHUTDOWN_GRACE_MS).unref()
    void handle?.stop()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    // Loaded here, not at the top, so that `firehose <other command>` does not pay for it.
    const { startIngestor } = await import('../../ingestor/index.js')
    handle = await startIngestor(ingestorOptions(flags, crashAt, logger))
  } catch (err) {
    // A refused option is a usage error: its one line says it all.
    if (!(err instanceof IngestorError && err.code === IngestorErrorCode.InvalidOption)) logger.error({ err }, 'ingestor could not start')
    return failed(err)
  }
  if (signals > 0) void handle.stop()
  const backfill = flags.backfill === undefined ? null : await startBackfill(flags, logger)
  if (handle.healthPort !== null) logger.info({ host: flags.healthHost, port: handle.healthPort, also: ['/ready', '/metrics'] }, 'health endpoint on GET /health')

  await handle.done
  await backfill?.stop()
  const status = handle.status()
  switch (status.stoppedBy) {
    case 'future-cursor':
      return ExitCode.Failed
    case 'lease-lost':
      process.stderr.write('firehose ingest: lost the --ha lease (another ingestor took over, or Redis was unreachable for --lease-ttl); restart to wait as a standby\n')
      return ExitCode.LeaseLost
    case 'fatal':
      return failed(handle.error())
    default:
      return ExitCode.Ok
  }
}

/** `--backfill`: the listing beside the ingestion (cli/ingest-backfill.ts); a DIDs file that cannot be read is logged, the ingestion goes on. */
async function startBackfill(flags: IngestFlags, logger: Logger): Promise<{ stop: () => Promise<void> } | null> {
  const { backfillBesideIngest } = await import('../ingest-backfill.js')
  return backfillBesideIngest(flags.backfill!, { redis: flags.redis, redisCluster: flags.redisCluster === true, stream: flags.stream, shards: flags.shards, listFrom: flags.listFrom, logger }).catch((err: unknown) => {
    logger.error({ err }, 'backfill could not start; the ingestion goes on')
    return null
  })
}

/** The library's options from the flags: units converted (seconds, MiB), nothing checked here (resolveOptions does). */
function ingestorOptions(flags: IngestFlags, crashAt: string | null, logger: Logger): IngestorOptions {
  return {
    relayUrls: flags.relay ?? [relayUrl(DEFAULT_RELAY_HOST)],
    failoverAfter: flags.failoverAfter,
    primaryProbeIntervalMs: Math.max(1, Math.round(flags.primaryProbeInterval * 1000)),
    redisUrl: flags.redis,
    redisTls: {
      ...(flags.redisCa !== undefined ? { caFile: flags.redisCa } : {}),
      ...(flags.redisCert !== undefined ? { certFile: flags.redisCert } : {}),
      ...(flags.redisKey !== undefined ? { keyFile: flags.redisKey } : {}),
      ...(flags.redisServername !== undefined ? { servername: flags.redisServername } : {}),
    },
    stream: flags.stream,
    cursorKey: flags.cursorKey,
    legacyCursorKey: flags.legacyCursorKey ?? null,
    startCursor: flags.cursor ?? null,
    forceCursor: flags.forceCursor === true,
    ...(flags.maxLen !== undefined ? { maxLen: flags.maxLen } : {}),
    trim: flags.trim,
    stallTimeoutMs: Math.round(flags.stallTimeout * 1000),
    maxMessageBytes: flags.maxMessageMb * 1024 * 1024,
    onFutureCursor: flags.onFutureCursor,
    batchSize: flags.batchSize,
    writeMaxFrames: flags.writeMaxFrames,
    queueFrames: flags.queueSize,
    queueBytes: flags.queueMb * 1024 * 1024,
    maxConsecutiveBadFrames: flags.maxBadFrames,
    deadLetterMaxBytes: flags.deadLetterMaxMb * 1024 * 1024,
    decodeWorkers: flags.decodeWorkers,
    verifyBlocks: flags.verifyBlocks,
    ...(flags.collections !== undefined ? { collections: flags.collections } : {}),
    ...(flags.types !== undefined ? { types: flags.types } : {}),
    verify: flags.verify !== false,
    plcUrl: flags.plcUrl,
    didCacheSize: flags.didCacheSize,
    plcRps: flags.plcRps,
    didSharedCacheSize: flags.didSharedCacheSize,
    verifyWorkers: flags.verifyWorkers,
    repoState: flags.repoState !== false,
    resyncFrom: flags.resyncFrom ?? null,
    allowPrivateHosts: flags.allowPrivateHosts === true,
    resyncConcurrency: flags.resyncConcurrency,
    repoStateCacheSize: flags.repoStateCacheSize,
    snapshotPartRecords: flags.snapshotPartRecords,
    healthPort: flags.healthPort ?? null,
    healthHost: flags.healthHost,
    readyWriteTimeoutMs: Math.max(1, Math.round(flags.readyWriteTimeout * 1000)),
    statusIntervalMs: Math.round(flags.statusInterval * 1000),
    ha: flags.ha === true,
    ...(flags.leaseKey !== undefined ? { leaseKey: flags.leaseKey } : {}),
    leaseTtlMs: Math.round(flags.leaseTtl * 1000),
    shards: flags.shards,
    redisCluster: flags.redisCluster === true,
    crashAt,
    logger,
  }
}

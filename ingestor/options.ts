import { DEFAULT_CURSOR_KEY, DEFAULT_GROUP, DEFAULT_STREAM, deadLetterStreamOf, leaseKeyOf } from '../common/contract.js'
import { keyLayout, keyLayoutProblem } from '../common/key-layout.js'
import type { Logger } from '../common/logger.js'
import type { SeededRandom } from '../common/random.js'
import type { BlockVerification } from '../protocol/car.js'
import { IngestorError, IngestorErrorCode } from './errors.js'
import { eventFilterSpec, type EventFilterSpec, type EventType } from './event-filter.js'
import type { RedisTlsOptions } from '../common/redis-target.js'
import type { TrimMode } from './redis-sink.js'
import { duplicateRelay, relayEndpoints, type RelayEndpoint } from './relay-endpoints.js'

export type FutureCursorPolicy = 'live' | 'exit'

export interface IngestorOptions {
  /** Full ws(s)://.../xrpc/com.atproto.sync.subscribeRepos URL (cli/options.ts relayUrl builds it). Give this or relayUrls. */
  relayUrl?: string
  /**
   * Relays in order of preference (relay failover, docs/ingestor.md): the first is the primary
   * and keeps `cursorKey`; each other one stores its cursor in `<cursorKey>:<host[:port]>`.
   */
  relayUrls?: string[]
  /** With several relays: this many connection attempts in a row without a frame (or one stall) => next relay. Default 3. */
  failoverAfter?: number
  /** With several relays: while on a fallback, probe the primary this often and go back once it delivers a frame. Default 30_000. */
  primaryProbeIntervalMs?: number
  redisUrl: string
  /** Default `firehose:events`. */
  stream?: string
  /** Default `firehose:cursor`. */
  cursorKey?: string
  /** Default `<stream>:dead`. */
  deadLetterStream?: string
  /** Consumer group created (MKSTREAM) when missing. Default `firehose-processors`. */
  group?: string
  /**
   * Start from this seq instead of the stored cursor (the stored one is still the CAS base).
   * Refused (INGESTOR_CURSOR_CONFLICT) when a different cursor is stored, unless forceCursor.
   */
  startCursor?: number | null
  /** Let startCursor override a different stored cursor (events between are written again, or skipped). */
  forceCursor?: boolean
  /** Keep the stream at about this many entries. Default 0: never trim (null, accepted too, means the same). */
  maxLen?: number | null
  /**
   * How maxLen trims. 'safe' (default): never an entry some consumer group has not read and
   * acknowledged; ingestion pauses while the stream is full of them. 'unsafe': `XADD MAXLEN ~`.
   */
  trim?: TrimMode
  /** Bound of the dead-letter stream (MAXLEN ~). Default 10_000. */
  deadLetterMaxLen?: number
  /** Byte bound of the dead-letter stream: lowers the entry bound so that entries of the largest size fit (dead-letter.ts). Default 64 MiB. */
  deadLetterMaxBytes?: number
  /** No frame from the relay (pongs do not count) for this long => reconnect. Default 30_000. */
  stallTimeoutMs?: number
  /** Largest WebSocket message accepted; a larger one ends the connection (docs/relay-client.md). Default 16 MiB. */
  maxMessageBytes?: number
  /** What to do when the relay answers FutureCursor. Default 'live'. */
  onFutureCursor?: FutureCursorPolicy
  /** Frames per decode batch (taken from the queue, decoded together). Default 500. */
  batchSize?: number
  /** Bytes of raw frames per decode batch. Default 4 MiB. */
  batchBytes?: number
  /**
   * Most frames per atomic write: the decoded batches waiting for the writer are written as one
   * script call up to this (a single larger batch is written alone). Also bounds the decoded
   * batches waiting. Default 1000 (RSS at max rate: docs/performance.md, issue 20).
   */
  writeMaxFrames?: number
  /** Most bytes of raw frames per atomic write (and waiting decoded). Default 16 MiB. */
  writeMaxBytes?: number
  /** Queue bound between socket and Redis, in frames. Default 2_000 (RSS: docs/performance.md). */
  queueFrames?: number
  /** Queue bound in bytes of raw frames. Default 32 MiB. */
  queueBytes?: number
  /** This many malformed frames in a row => reconnect. Default 20. */
  maxConsecutiveBadFrames?: number
  /** Worker threads decoding frames (default 1); 0 decodes on the main thread. */
  decodeWorkers?: number
  /** Which CAR blocks must hash to their CID (default 'all'; see protocol/car.ts). */
  verifyBlocks?: BlockVerification
  /** Publish only commit ops in these collections: exact NSIDs or `prefix.*`; a commit left without ops is not published (its seq still moves the cursor). Default: all. */
  collections?: string[]
  /** Publish only these event types. Default: all. */
  types?: EventType[]
  /** Status line period. Default 10_000; 0 disables. */
  statusIntervalMs?: number
  /** Serve GET /health, /ready and /metrics on this port (0 = any free port); null = no HTTP server. */
  healthPort?: number | null
  /**
   * Address the health server listens on. Default '127.0.0.1': /metrics and /ready tell anyone who can
   * reach them about the deployment, so listening beyond this host is a choice (the Docker image sets 0.0.0.0).
   */
  healthHost?: string
  /** GET /ready fails when frames have waited this long with no write acknowledged. Default 10_000. */
  readyWriteTimeoutMs?: number
  /** Relay reconnect backoff (RelayClient defaults 1 s -> 30 s, reset after 60 s stable). */
  relayBackoff?: { initialMs?: number; maxMs?: number; stableMs?: number }
  /** Redis retry backoff after a failed write. Default 100 ms -> 5 s. */
  redisBackoff?: { initialMs?: number; maxMs?: number }
  /** CA, client certificate and server name for a rediss:// URL (redis-connection.ts). */
  redisTls?: RedisTlsOptions
  /** While Redis is down, a "still down" warning this often. Default 30_000. */
  redisDownLogIntervalMs?: number
  /**
   * The cursor key of the consumer this ingestor replaces (docs/migration.md), e.g.
   * `firehose:python_cursor`: at start it is taken over (when `cursorKey` holds nothing, and
   * past any entries that consumer wrote after it: takeover.ts), and every write keeps it equal
   * to our cursor, in the same atomic script, so that consumer can be restarted where we stopped
   * (rollback). One stream, one Redis server, one relay: the legacy consumer's layout. Default null.
   */
  legacyCursorKey?: string | null
  /** Leader election (docs/ingestor.md, "High availability"): write only while holding a lease in Redis, else wait as a standby. Default false. */
  ha?: boolean
  /** The lease's key. Default `<cursorKey>:lease`. */
  leaseKey?: string
  /** The lease's time to live; renewed every third of it. A standby takes over within about this long of the leader's death. Default 5_000. */
  leaseTtlMs?: number
  /** Check every #commit and #sync against its account's signing key and MST proofs (docs/verify.md); failures are dead-lettered. Default false. */
  verify?: boolean
  /** With verify: the PLC directory did:plc documents are fetched from. Default https://plc.directory. */
  plcUrl?: string
  /** With verify: most DIDs whose signing key is cached; the least recently used is evicted. Default 50_000. */
  didCacheSize?: number
  /** With verify: how long a cached signing key is used before it is fetched again. Default 3_600_000 (1 h). */
  didCacheTtlMs?: number
  /** With verify: deadline of one DID document request. Default 5_000. */
  didTimeoutMs?: number
  /** With verify: threads checking signatures and MST proofs (default 1); 0 checks on the main thread. */
  verifyWorkers?: number
  /**
   * With verify: most requests per second to the PLC directory (a token bucket; the batch waits for
   * its keys rather than going over it). did:web hosts are not counted. Default 50 (docs/verify.md).
   */
  plcRps?: number
  /**
   * With verify: most DIDs whose key (or "no document" answer) is kept in Redis, `<stream>:did-keys`,
   * shared by the stream's ingestors (--ha) and kept across restarts; the entries closest to expiry
   * are evicted first. 0: no shared cache. Default 200_000 (~70 MiB of Redis: docs/verify.md).
   */
  didSharedCacheSize?: number
  /** With verify: how long a key fetched over HTTP is served from the shared cache. Default 86_400_000 (24 h). */
  didSharedCacheTtlMs?: number
  /**
   * Keep per-repo state (docs/repo-sync.md): each #commit must continue its repo's chain, a broken
   * chain or a #sync to new data resyncs the repo from getRepo and publishes a repo snapshot.
   * Default true; false publishes every event as decoded (`--no-repo-state`).
   */
  repoState?: boolean
  /** With repoState: fetch getRepo from this server (a relay or mirror) instead of each DID's PDS. Default null (the PDS). */
  resyncFrom?: string | null
  /** With repoState: PDS hosts may resolve to private and loopback addresses (tests; a PDS on a private network). Default false. */
  allowPrivateHosts?: boolean
  /** With repoState: repos fetched at once (each host 2 at most). Default 8. */
  resyncConcurrency?: number
  /** With repoState: most repos whose state is kept in memory as the write's compare-and-set base (others are read again). Default 100_000. */
  repoStateCacheSize?: number
  /** Backfill (docs/backfill.md): between two passes over the repos it asks for (default 1 s), and over those it listed as inactive (default 60 s). */
  backfillPollMs?: { markers: number; inactive: number }
  /** With repoState: most events held for resyncing repos, all together (overflow: that repo is resynced again). Default 100_000. */
  resyncMaxHeld?: number
  /** With repoState: records per snapshot part entry, at most (each part is also at most 1 MiB of JSON). Default 500. */
  snapshotPartRecords?: number
  /**
   * Split events into this many streams by repo DID (`<stream>:0` .. `<stream>:<n-1>`, each with
   * its own cursor; docs/scaling.md). Default 1: the one stream `stream`.
   */
  shards?: number
  /** `redisUrl` is a seed node of a Redis Cluster (keys hash-tagged per shard). Default false. */
  redisCluster?: boolean
  /** Test-only: `<point>:<n>` (see crash-points.ts); the CLI reads FIREHOSE_CRASH_AT. */
  crashAt?: string | null
  logger?: Logger
  random?: SeededRandom
}

export type ResolvedOptions = Required<Omit<IngestorOptions, 'logger' | 'random' | 'relayBackoff' | 'redisBackoff' | 'collections' | 'types' | 'relayUrls' | 'maxLen'>> &
  Pick<IngestorOptions, 'logger' | 'random' | 'relayBackoff'> & {
    /** 0: never trim (the write script reads it so too). */
    maxLen: number
    redisBackoff: { initialMs: number; maxMs: number }
    /** null: publish everything */
    filter: EventFilterSpec | null
    /** The primary first; `relayUrl` is the primary's URL. */
    relays: RelayEndpoint[]
  }

export const INGESTOR_DEFAULTS = {
  stream: DEFAULT_STREAM,
  cursorKey: DEFAULT_CURSOR_KEY,
  group: DEFAULT_GROUP,
  maxLen: 0,
  trim: 'safe' as TrimMode,
  deadLetterMaxLen: 10_000,
  deadLetterMaxBytes: 64 * 1024 * 1024,
  stallTimeoutMs: 30_000,
  maxMessageBytes: 16 * 1024 * 1024,
  onFutureCursor: 'live' as FutureCursorPolicy,
  verifyBlocks: 'all' as BlockVerification,
  batchSize: 500,
  batchBytes: 4 * 1024 * 1024,
  writeMaxFrames: 1000,
  writeMaxBytes: 16 * 1024 * 1024,
  queueFrames: 2_000,
  queueBytes: 32 * 1024 * 1024,
  maxConsecutiveBadFrames: 20,
  statusIntervalMs: 10_000,
  decodeWorkers: 1,
  healthHost: '127.0.0.1',
  readyWriteTimeoutMs: 10_000,
  plcUrl: 'https://plc.directory',
  didCacheSize: 50_000,
  didCacheTtlMs: 3_600_000,
  didTimeoutMs: 5_000,
  verifyWorkers: 1,
  plcRps: 50,
  didSharedCacheSize: 200_000,
  didSharedCacheTtlMs: 86_400_000,
  repoState: true,
  resyncConcurrency: 8,
  repoStateCacheSize: 100_000,
  resyncMaxHeld: 100_000,
  backfillPollMs: { markers: 1_000, inactive: 60_000 },
  snapshotPartRecords: 500,
  leaseTtlMs: 5_000,
  failoverAfter: 3,
  primaryProbeIntervalMs: 30_000,
  shards: 1,
  redisDownLogIntervalMs: 30_000,
  redisBackoff: { initialMs: 100, maxMs: 5_000 },
}

/** Most shards: each is a stream, a cursor key and one script call per write. */
export const MAX_SHARDS = 256

export const LEASE_TTL_MIN_MS = 500
export const LEASE_TTL_MAX_MS = 600_000

/**
 * Fills defaults and rejects values the pipeline cannot run with: the one place the options are
 * checked together (the CLI parses each flag, then leaves the rest to this and prints its
 * INGESTOR_INVALID_OPTION as a usage error naming the flag: cli/ingest-usage.ts).
 */
export function resolveOptions(options: IngestorOptions): ResolvedOptions {
  const stream = options.stream ?? INGESTOR_DEFAULTS.stream
  const cursorKey = options.cursorKey ?? INGESTOR_DEFAULTS.cursorKey
  const relays = relayEndpoints(relayList(options), cursorKey)
  const resolved: ResolvedOptions = {
    relayUrl: relays[0]!.url,
    relays,
    failoverAfter: options.failoverAfter ?? INGESTOR_DEFAULTS.failoverAfter,
    primaryProbeIntervalMs: options.primaryProbeIntervalMs ?? INGESTOR_DEFAULTS.primaryProbeIntervalMs,
    redisUrl: options.redisUrl,
    stream,
    cursorKey,
    deadLetterStream: options.deadLetterStream ?? deadLetterStreamOf(stream),
    group: options.group ?? INGESTOR_DEFAULTS.group,
    startCursor: options.startCursor ?? null,
    forceCursor: options.forceCursor ?? false,
    maxLen: options.maxLen ?? INGESTOR_DEFAULTS.maxLen,
    trim: options.trim ?? INGESTOR_DEFAULTS.trim,
    deadLetterMaxLen: options.deadLetterMaxLen ?? INGESTOR_DEFAULTS.deadLetterMaxLen,
    deadLetterMaxBytes: options.deadLetterMaxBytes ?? INGESTOR_DEFAULTS.deadLetterMaxBytes,
    stallTimeoutMs: options.stallTimeoutMs ?? INGESTOR_DEFAULTS.stallTimeoutMs,
    maxMessageBytes: options.maxMessageBytes ?? INGESTOR_DEFAULTS.maxMessageBytes,
    onFutureCursor: options.onFutureCursor ?? INGESTOR_DEFAULTS.onFutureCursor,
    batchSize: options.batchSize ?? INGESTOR_DEFAULTS.batchSize,
    batchBytes: options.batchBytes ?? INGESTOR_DEFAULTS.batchBytes,
    writeMaxFrames: options.writeMaxFrames ?? INGESTOR_DEFAULTS.writeMaxFrames,
    writeMaxBytes: options.writeMaxBytes ?? INGESTOR_DEFAULTS.writeMaxBytes,
    queueFrames: options.queueFrames ?? INGESTOR_DEFAULTS.queueFrames,
    queueBytes: options.queueBytes ?? INGESTOR_DEFAULTS.queueBytes,
    maxConsecutiveBadFrames: options.maxConsecutiveBadFrames ?? INGESTOR_DEFAULTS.maxConsecutiveBadFrames,
    decodeWorkers: options.decodeWorkers ?? INGESTOR_DEFAULTS.decodeWorkers,
    verifyBlocks: options.verifyBlocks ?? INGESTOR_DEFAULTS.verifyBlocks,
    filter: eventFilterSpec(options.collections, options.types),
    statusIntervalMs: options.statusIntervalMs ?? INGESTOR_DEFAULTS.statusIntervalMs,
    healthPort: options.healthPort ?? null,
    healthHost: options.healthHost ?? INGESTOR_DEFAULTS.healthHost,
    readyWriteTimeoutMs: options.readyWriteTimeoutMs ?? INGESTOR_DEFAULTS.readyWriteTimeoutMs,
    verify: options.verify ?? false,
    plcUrl: options.plcUrl ?? INGESTOR_DEFAULTS.plcUrl,
    didCacheSize: options.didCacheSize ?? INGESTOR_DEFAULTS.didCacheSize,
    didCacheTtlMs: options.didCacheTtlMs ?? INGESTOR_DEFAULTS.didCacheTtlMs,
    didTimeoutMs: options.didTimeoutMs ?? INGESTOR_DEFAULTS.didTimeoutMs,
    verifyWorkers: options.verifyWorkers ?? INGESTOR_DEFAULTS.verifyWorkers,
    plcRps: options.plcRps ?? INGESTOR_DEFAULTS.plcRps,
    didSharedCacheSize: options.didSharedCacheSize ?? INGESTOR_DEFAULTS.didSharedCacheSize,
    didSharedCacheTtlMs: options.didSharedCacheTtlMs ?? INGESTOR_DEFAULTS.didSharedCacheTtlMs,
    repoState: options.repoState ?? INGESTOR_DEFAULTS.repoState,
    resyncFrom: options.resyncFrom ?? null,
    allowPrivateHosts: options.allowPrivateHosts ?? false,
    resyncConcurrency: options.resyncConcurrency ?? INGESTOR_DEFAULTS.resyncConcurrency,
    repoStateCacheSize: options.repoStateCacheSize ?? INGESTOR_DEFAULTS.repoStateCacheSize,
    resyncMaxHeld: options.resyncMaxHeld ?? INGESTOR_DEFAULTS.resyncMaxHeld,
    backfillPollMs: options.backfillPollMs ?? INGESTOR_DEFAULTS.backfillPollMs,
    snapshotPartRecords: options.snapshotPartRecords ?? INGESTOR_DEFAULTS.snapshotPartRecords,
    ha: options.ha ?? false,
    leaseKey: options.leaseKey ?? leaseKeyOf(cursorKey),
    legacyCursorKey: options.legacyCursorKey ?? null,
    leaseTtlMs: options.leaseTtlMs ?? INGESTOR_DEFAULTS.leaseTtlMs,
    shards: options.shards ?? INGESTOR_DEFAULTS.shards,
    redisCluster: options.redisCluster ?? false,
    crashAt: options.crashAt ?? null,
    redisTls: options.redisTls ?? {},
    redisDownLogIntervalMs: options.redisDownLogIntervalMs ?? INGESTOR_DEFAULTS.redisDownLogIntervalMs,
    logger: options.logger,
    random: options.random,
    relayBackoff: options.relayBackoff,
    redisBackoff: { initialMs: options.redisBackoff?.initialMs ?? INGESTOR_DEFAULTS.redisBackoff.initialMs, maxMs: options.redisBackoff?.maxMs ?? INGESTOR_DEFAULTS.redisBackoff.maxMs },
  }
  checkResolved(resolved)
  return resolved
}

/** The options checked together, after the defaults are in: each rule once, the reason in the option's own terms. */
function checkResolved(resolved: ResolvedOptions): void {
  for (const key of ['stream', 'cursorKey', 'deadLetterStream', 'group', 'leaseKey'] as const) {
    if (resolved[key] === '') invalid(key, resolved[key], 'must not be empty')
  }
  if (resolved.stream === resolved.deadLetterStream) invalid('deadLetterStream', resolved.deadLetterStream, 'must differ from the stream')
  checkInteger('batchSize', resolved.batchSize, 1)
  checkInteger('batchBytes', resolved.batchBytes, 1)
  checkInteger('writeMaxFrames', resolved.writeMaxFrames, 1)
  checkInteger('writeMaxBytes', resolved.writeMaxBytes, 1)
  checkInteger('queueFrames', resolved.queueFrames, 1)
  // A batch is taken from the queue whole.
  if (resolved.queueFrames < resolved.batchSize) invalid('queueFrames', resolved.queueFrames, `must be at least batchSize (${resolved.batchSize})`, { min: resolved.batchSize, minOption: 'batchSize' })
  checkInteger('queueBytes', resolved.queueBytes, 1)
  checkInteger('maxConsecutiveBadFrames', resolved.maxConsecutiveBadFrames, 1)
  checkInteger('deadLetterMaxLen', resolved.deadLetterMaxLen, 1)
  checkInteger('deadLetterMaxBytes', resolved.deadLetterMaxBytes, 1)
  checkInteger('stallTimeoutMs', resolved.stallTimeoutMs, 1)
  checkInteger('maxMessageBytes', resolved.maxMessageBytes, 1)
  checkInteger('statusIntervalMs', resolved.statusIntervalMs, 0)
  checkInteger('redisDownLogIntervalMs', resolved.redisDownLogIntervalMs, 1)
  checkInteger('decodeWorkers', resolved.decodeWorkers, 0, 64)
  checkInteger('maxLen', resolved.maxLen, 0)
  if (resolved.startCursor !== null) checkInteger('startCursor', resolved.startCursor, 0)
  if (resolved.healthPort !== null) checkInteger('healthPort', resolved.healthPort, 0, 65_535)
  if (resolved.healthHost === '') invalid('healthHost', resolved.healthHost, 'must not be empty')
  checkInteger('readyWriteTimeoutMs', resolved.readyWriteTimeoutMs, 1)
  checkInteger('didCacheSize', resolved.didCacheSize, 1)
  checkInteger('didCacheTtlMs', resolved.didCacheTtlMs, 1)
  checkInteger('didTimeoutMs', resolved.didTimeoutMs, 1)
  checkInteger('verifyWorkers', resolved.verifyWorkers, 0, 64)
  checkInteger('plcRps', resolved.plcRps, 1, 100_000)
  checkInteger('didSharedCacheSize', resolved.didSharedCacheSize, 0, 100_000_000)
  checkInteger('didSharedCacheTtlMs', resolved.didSharedCacheTtlMs, 1)
  if (!URL.canParse(resolved.plcUrl) || !['http:', 'https:'].includes(new URL(resolved.plcUrl).protocol)) invalid('plcUrl', resolved.plcUrl, 'must be an http:// or https:// URL')
  checkInteger('resyncConcurrency', resolved.resyncConcurrency, 1, 256)
  checkInteger('repoStateCacheSize', resolved.repoStateCacheSize, 1)
  checkInteger('resyncMaxHeld', resolved.resyncMaxHeld, 1)
  checkInteger('backfillPollMs.markers', resolved.backfillPollMs.markers, 1)
  checkInteger('backfillPollMs.inactive', resolved.backfillPollMs.inactive, 1)
  checkInteger('snapshotPartRecords', resolved.snapshotPartRecords, 1, 100_000)
  if (resolved.resyncFrom !== null && (!URL.canParse(resolved.resyncFrom) || !['http:', 'https:'].includes(new URL(resolved.resyncFrom).protocol))) {
    invalid('resyncFrom', resolved.resyncFrom, 'must be an http:// or https:// URL')
  }
  checkInteger('failoverAfter', resolved.failoverAfter, 1)
  checkInteger('primaryProbeIntervalMs', resolved.primaryProbeIntervalMs, 1)
  // Every relay's cursor key counts (relay failover names them `<cursorKey>:<host[:port]>`).
  checkLegacyCursorKey(resolved)
  if ([resolved.stream, resolved.deadLetterStream, ...resolved.relays.map((relay) => relay.cursorKey)].includes(resolved.leaseKey)) {
    invalid('leaseKey', resolved.leaseKey, 'must differ from the stream and cursor keys')
  }
  // Renewed every ttl/3: much shorter and one slow Redis reply or GC pause costs the lease.
  checkInteger('leaseTtlMs', resolved.leaseTtlMs, LEASE_TTL_MIN_MS, LEASE_TTL_MAX_MS)
  checkInteger('shards', resolved.shards, 1, MAX_SHARDS)
  const layoutProblem = keyLayoutProblem(keyLayout(resolved.shards, resolved.redisCluster), resolved.stream)
  if (layoutProblem !== null) invalid('stream', resolved.stream, layoutProblem)
  if (resolved.trim !== 'safe' && resolved.trim !== 'unsafe') invalid('trim', resolved.trim, "must be 'safe' or 'unsafe'")
  if (resolved.onFutureCursor !== 'live' && resolved.onFutureCursor !== 'exit') invalid('onFutureCursor', resolved.onFutureCursor, "must be 'live' or 'exit'")
}

/** relayUrl or relayUrls (not both, not none), each a ws(s) URL, no relay (host[:port]) twice. */
function relayList(options: IngestorOptions): string[] {
  if (options.relayUrl !== undefined && options.relayUrls !== undefined) invalid('relayUrls', options.relayUrls, 'cannot be combined with relayUrl')
  const urls = options.relayUrls ?? (options.relayUrl === undefined ? [] : [options.relayUrl])
  if (urls.length === 0) invalid('relayUrl', options.relayUrl, 'is required (or relayUrls)')
  for (const url of urls) {
    if (!URL.canParse(url) || !['ws:', 'wss:'].includes(new URL(url).protocol)) invalid('relayUrls', url, 'must be ws:// or wss:// URLs')
  }
  const twice = duplicateRelay(urls)
  if (twice !== null) invalid('relayUrls', urls, `name relay ${twice} twice (each relay's cursor key is named after its host[:port])`)
  return urls
}

/** The legacy consumer wrote one stream on one server from one relay: takeover and rollback only make sense there. */
function checkLegacyCursorKey(resolved: ResolvedOptions): void {
  const key = resolved.legacyCursorKey
  if (key === null) return
  if (key === '') invalid('legacyCursorKey', key, 'must not be empty')
  if ([resolved.stream, resolved.deadLetterStream, resolved.leaseKey].includes(key)) invalid('legacyCursorKey', key, 'must differ from the stream, dead-letter and lease keys')
  if (resolved.shards > 1 || resolved.redisCluster) invalid('legacyCursorKey', key, "needs one stream on one Redis server (no --shards, no --redis-cluster): the legacy consumer's layout")
  if (resolved.relays.length > 1) invalid('legacyCursorKey', key, 'needs a single relay (the legacy consumer read one): add fallback relays once the legacy consumer is retired')
}

function checkInteger(option: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) invalid(option, value, `must be an integer from ${min} to ${max}`, { min, max })
}

/** `reason` completes a sentence whose subject is the option; `bounds` lets the CLI restate a range in its flag's units. */
function invalid(option: string, value: unknown, reason: string, bounds: { min?: number; max?: number; minOption?: string } = {}): never {
  throw new IngestorError(IngestorErrorCode.InvalidOption, `${option} ${reason} (got ${JSON.stringify(value)})`, { option, value, reason, ...bounds })
}

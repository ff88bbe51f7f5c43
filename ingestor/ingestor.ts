import { format } from 'node:util'
import { RelayClient } from '../client/relay-client.js'
import { redactUrl, silentLogger, type Logger } from '../common/logger.js'
import { CrashPoints } from './crash-points.js'
import { CursorStore } from './cursor-store.js'
import { createDecoder, type FrameDecoder } from './decoder.js'
import { FrameQueue } from './frame-queue.js'
import type { HealthServer } from './health.js'
import { Lease } from './lease.js'
import type { ResolvedOptions } from './options.js'
import { Pipeline } from './pipeline.js'
import { redisConfigError } from './redis-connection.js'
import { RedisSink } from './redis-sink.js'
import { RelayFailover } from './relay-failover.js'
import { readStartup } from './startup.js'
import { emptyCounters, type IngestorCounters, type IngestorState, type IngestorStatus, type StopReason } from './status.js'
import { StatusReporter } from './status-reporter.js'
import { statusSnapshot } from './status-snapshot.js'
import { lowestCursor, parseStoredCursors } from './stored-cursor.js'
import { logTakeover } from './takeover.js'
import { StreamFullWait } from './trim-wait.js'
import type { FrameVerifier } from './verify/frame-verifier.js'
import type { RedisClient } from './redis-connection.js'
import { retryUntilSuccess } from '../common/retry.js'
import { createRepoFetcher } from '../repo-sync/create-fetcher.js'
import type { PipelineRepoSync } from './pipeline.js'
import { RepoStateCache } from './repo-state-cache.js'
import { sweepUnsynchronized } from './repo-state-sweep.js'
import { DEFAULT_RESYNC_QUEUE, ResyncQueue } from './resync-queue.js'
import { ResyncWorker } from './resync-worker.js'
import { BackfillFeed, type HashPage } from './backfill-feed.js'
import { EventFilter } from './event-filter.js'
import { ACTIVATE_INACTIVE } from './backfill-activate.js'
import { runLuaScript } from './lua-script.js'
import { BACKFILL_COUNT_FIELDS, BACKFILL_MARKER_PATTERN } from '../repo-sync/backfill-fields.js'
import { decodeRepoState } from '../repo-sync/repo-state-codec.js'
import { systemTimers } from '../common/timers.js'

/**
 * One run of the ingestor: its parts, built here and handed to each other through their
 * constructors (the Redis sink, the cursor store, the pipeline, the relays, the lease), and its
 * life: start (wait for Redis, read the cursors, connect the relay), status, stop.
 */
export class Ingestor {
  readonly done: Promise<void>
  readonly counters: IngestorCounters
  private state: IngestorState = 'starting'
  private stoppedBy: StopReason | null = null
  private fatalMessage: string | null = null
  private fatalError: unknown = null
  private stopping: Promise<void> | null = null
  private relayConnected = false
  private resolveDone!: () => void
  private readonly logger: Logger
  private readonly baseLogger: Logger
  private readonly queue: FrameQueue
  private readonly sink: RedisSink
  private readonly decoder: FrameDecoder
  /** --verify: checks each batch while it decodes; null without. */
  private readonly verifier: FrameVerifier | null
  private readonly streamFullWait: StreamFullWait | null
  private readonly store: CursorStore
  private readonly pipeline: Pipeline
  private readonly relays: RelayFailover
  private readonly lease: Lease | null
  private readonly reporter: StatusReporter
  private readonly crash: CrashPoints
  /** Per-repo state (--repo-state): what the pipeline writes with, and the worker that resyncs repos; null when off. */
  private readonly repoSync: { parts: PipelineRepoSync; worker: ResyncWorker; backfill: BackfillFeed } | null
  /** The relay client frames come from now: relay failover replaces it. */
  private client: RelayClient | null = null
  private health: HealthServer | null = null

  constructor(
    private readonly options: ResolvedOptions,
    counters: IngestorCounters,
    /** --verify: builds the verifier on the sink's connection (its shared DID cache, docs/verify.md); null without --verify. */
    createVerifier: ((redis: RedisClient) => FrameVerifier) | null,
  ) {
    this.counters = counters
    this.done = new Promise<void>((resolve) => (this.resolveDone = resolve))
    this.baseLogger = options.logger ?? silentLogger
    this.logger = this.baseLogger.child({ component: 'ingestor' })
    const crash = new CrashPoints(options.crashAt)
    this.crash = crash
    this.queue = new FrameQueue(options.queueFrames, options.queueBytes)
    // First: a bad URL or unreadable TLS file throws here, before anything needs closing.
    this.sink = new RedisSink(options.redisUrl, options, this.baseLogger, options.redisBackoff, {
      tls: options.redisTls,
      downLogIntervalMs: options.redisDownLogIntervalMs,
      describeBacklog: () => ({ queueFrames: this.queue.frames, queueBytes: this.queue.bytes }),
      // Wrong credentials, a missing ACL permission, a bad db index: retrying cannot help.
      onFatal: (err) => void this.stop('fatal', err),
      onReconnected: () => this.redisReconnected(),
    })
    this.decoder = createDecoder(options.decodeWorkers, { verifyBlocks: options.verifyBlocks, filter: options.filter, shards: options.shards, repoFacts: options.repoState }, this.logger)
    this.verifier = createVerifier?.(this.sink.redis) ?? null
    this.streamFullWait = options.maxLen > 0 && options.trim === 'safe' ? new StreamFullWait(this.sink, options.maxLen, counters, this.logger) : null
    this.store = new CursorStore(
      {
        sink: this.sink,
        counters,
        crash,
        logger: this.logger,
        backoff: options.redisBackoff,
        writeTimeoutMs: options.readyWriteTimeoutMs,
        faultLogIntervalMs: options.redisDownLogIntervalMs,
        streamFullWait: this.streamFullWait,
        stopping: () => this.queue.isClosed,
        describeBacklog: () => ({ queueFrames: this.queue.frames, queueBytes: this.queue.bytes }),
        onWriteAnswered: (durationMs) => this.health?.observeWrite(durationMs),
      },
      options.cursorKey,
    )
    const repoSyncParts = options.repoState ? this.repoSyncParts() : null
    this.pipeline = new Pipeline({
      repoSync: repoSyncParts,
      options,
      counters,
      queue: this.queue,
      decoder: this.decoder,
      verifier: this.verifier,
      store: this.store,
      relay: { pause: () => this.client?.pause(), resume: () => this.client?.resume(), reconnect: (reason) => this.client?.reconnect(reason) },
      crash,
      logger: this.logger,
      onFutureCursorExit: () => void this.stop('future-cursor'),
    })
    this.repoSync = repoSyncParts === null ? null : this.repoSyncRun(repoSyncParts)
    this.relays = this.relayFailover()
    // HA: only the lease holder writes; losing it ends this run at once (a supervisor restarts it as a standby).
    this.lease = options.ha ? new Lease(this.sink.redis, { key: options.leaseKey, ttlMs: options.leaseTtlMs, onLost: () => void this.stop('lease-lost') }, this.baseLogger) : null
    this.reporter = new StatusReporter(() => this.status(), this.logger, options.statusIntervalMs)
  }

  /** The /health, /ready and /metrics server's port when healthPort was given. */
  get healthPort(): number | null {
    return this.health?.port ?? null
  }

  error(): unknown {
    return this.fatalError
  }

  status(): IngestorStatus {
    return statusSnapshot({
      lifecycle: { state: this.state, stoppedBy: this.stoppedBy, error: this.fatalMessage, relayConnected: this.relayConnected },
      shards: this.options.shards,
      pipeline: this.pipeline,
      store: this.store,
      queue: this.queue,
      relays: this.relays,
      sink: this.sink,
      streamFullWait: this.streamFullWait,
      lease: this.lease,
      counters: this.counters,
      repoSync:
        this.repoSync === null
          ? null
          : {
              pendingResyncs: this.repoSync.parts.queue.pendingCount,
              resyncing: this.repoSync.worker.active,
              heldEvents: this.repoSync.parts.queue.heldEvents,
              retriesScheduled: this.repoSync.worker.retriesScheduled,
              statesCached: this.repoSync.parts.states.size,
              backfill: this.repoSync.backfill.counts,
            },
      decodeWorkerFailures: this.decoder.workerFailures,
      eventsPerSec: this.reporter.eventsPerSec,
    })
  }

  /** The health server (health.ts, loaded only when used); on failure (e.g. the port is taken) what is open is closed. */
  async serveHealth(): Promise<void> {
    if (this.options.healthPort === null) return
    try {
      const { startHealthServer } = await import('./health.js')
      const { healthHost: host, healthPort: port, readyWriteTimeoutMs } = this.options
      this.health = await startHealthServer({ host, port, readyWriteTimeoutMs, status: () => this.status(), redis: this.sink.redis, shards: this.sink.shardKeys, repoState: this.options.repoState })
    } catch (err) {
      await this.decoder.close()
      await this.sink.close()
      throw err
    }
  }

  /** Starts in the background: Redis (retried forever), the lease with --ha, the cursors, then the relay. */
  start(): void {
    void this.run().catch((err: unknown) => void this.stop('fatal', err))
  }

  private async run(): Promise<void> {
    const { options } = this
    const fallbacks = options.relays.length > 1 ? { fallbackRelays: options.relays.slice(1).map((relay) => redactUrl(relay.url)) } : {}
    const layout = { ...(options.shards > 1 ? { shards: options.shards } : {}), ...(options.redisCluster ? { redisCluster: true } : {}) }
    this.logger.info({ ...layout, relay: redactUrl(options.relayUrl), ...fallbacks, redis: redactUrl(options.redisUrl), stream: options.stream, cursorKey: options.cursorKey }, 'ingestor starting')
    // Status lines start now, so a Redis that is down at startup is reported too.
    this.reporter.start()
    if (this.lease !== null) {
      this.state = 'standby'
      if (!(await this.lease.acquire(() => this.state !== 'standby'))) return // stopped while a standby
      this.state = 'starting'
    }
    const read = await readStartup(this.sink, options, () => this.state !== 'starting', this.logger)
    // Stopped while waiting for Redis (or, HA, the lease was lost meanwhile).
    if (read === null || this.state !== 'starting') return
    if (read.takeover !== null) {
      logTakeover(this.logger, read.takeover, lowestCursor(parseStoredCursors(read.storedRaw, this.sink.cursorKeys(options.cursorKey))), options.legacyCursorKey!)
      this.counters.takeoverSkipped = read.takeover.skippedEntries
    }
    const finished = this.pipeline.start(read.storedRaw, read.takeover?.start ?? null)
    this.state = 'running'
    this.repoSync?.worker.start()
    this.repoSync?.backfill.start()
    this.relays.start()
    await finished
  }

  /** Graceful (stop()) or not (fatal, lease lost): nothing more is read; what can be written is. */
  stop(reason: StopReason, error?: unknown): Promise<void> {
    this.stopping ??= this.shutDown(reason, error)
    return this.stopping
  }

  private async shutDown(reason: StopReason, error: unknown): Promise<void> {
    const wasRunning = this.state === 'running'
    this.state = 'stopping'
    this.stoppedBy = reason
    if (error !== undefined) {
      this.fatalMessage = error instanceof Error ? error.message : format('%s', error)
      this.fatalError = error
      this.logger.error({ err: error }, 'ingestor failed')
      this.pipeline.abandon()
    }
    // Another ingestor may be writing already: not one more batch from this one (the CAS cursor fences any in flight).
    if (reason === 'lease-lost') this.pipeline.abandon()
    this.logger.info({ reason, queued: this.queue.frames }, 'stopping: no more relay reads; draining the queue')
    // Resyncs stop first (their fetches aborted, an open snapshot left for the next run to end): their writes go through the pipeline.
    await this.repoSync?.backfill.stop()
    await this.repoSync?.worker.stop()
    await this.relays.close()
    if (wasRunning) await this.pipeline.drain().catch((err: unknown) => this.logger.error({ err }, 'drain failed'))
    this.reporter.stop()
    await this.decoder.close()
    await this.verifier?.close()
    await this.lease?.release()
    await this.sink.close()
    await this.health?.close()
    this.state = 'stopped'
    const final = this.status()
    this.logger.info({ reason, storedCursor: final.storedCursor, counters: final.counters }, 'ingestor stopped')
    this.resolveDone()
  }

  /** What the pipeline needs of per-repo state: the believed states (read from Redis when not held, retried through outages), the resync queue. */
  private repoSyncParts(): PipelineRepoSync {
    const { options, sink } = this
    const reading = <T>(read: () => Promise<T>): Promise<T> =>
      retryUntilSuccess(
        async () => {
          await sink.whenReady()
          return read()
        },
        { backoff: options.redisBackoff, isFatal: (err) => redisConfigError(err) !== null },
      )
    return {
      states: new RepoStateCache(options.repoStateCacheSize, options.shards, (shard, dids) => reading(() => sink.readHashFields(shard, 'repos', dids)), this.logger),
      queue: new ResyncQueue({ ...DEFAULT_RESYNC_QUEUE, maxHeld: options.resyncMaxHeld }),
      readFields: async (shard, fields) => (await reading(() => sink.readHashFields(shard, 'snapshots', fields))).map((value) => value?.toString('utf8') ?? null),
      scanFields: (shard, pattern) => reading(() => sink.scanHashFields(shard, pattern)),
      shards: options.shards,
      nowMs: () => Date.now(),
    }
  }

  /** The resync worker, and the feed that hands it the repos a backfill asks for (docs/backfill.md). */
  private repoSyncRun(parts: PipelineRepoSync): { parts: PipelineRepoSync; worker: ResyncWorker; backfill: BackfillFeed } {
    const worker = this.resyncWorker(parts)
    const { sink } = this
    const page = async (key: string, cursor: string, pattern: string | null): Promise<HashPage> => {
      await sink.whenReady()
      const [next, flat] = pattern === null ? await sink.redis.hscan(key, cursor, 'COUNT', 1000) : await sink.redis.hscan(key, cursor, 'MATCH', pattern, 'COUNT', 1000)
      const fields: [string, string][] = []
      for (let i = 0; i + 1 < flat.length; i += 2) fields.push([flat[i]!, flat[i + 1]!])
      return { next, fields }
    }
    const backfill = new BackfillFeed({
      queue: parts.queue,
      isResyncing: (did) => worker.isResyncing(did),
      markers: (shard, cursor) => page(sink.shardKeys[shard]!.snapshotProgress, cursor, BACKFILL_MARKER_PATTERN),
      inactive: (shard, cursor) => page(sink.shardKeys[shard]!.backfillInactive, cursor, null),
      activeNow: async (shard, dids) => {
        await sink.whenReady()
        return (await sink.readHashFields(shard, 'repos', dids)).map((raw) => {
          try {
            return raw !== null && decodeRepoState(raw).status === 'active'
          } catch {
            return false // a value that does not decode: the pipeline's own read of it reports it
          }
        })
      },
      activate: async (shard, dids) => {
        await sink.whenReady()
        const keys = sink.shardKeys[shard]!
        return (await runLuaScript(sink.redis, ACTIVATE_INACTIVE, 2, [keys.snapshotProgress, keys.backfillInactive, ...dids])) as string[]
      },
      readCounts: async (shard) => {
        await sink.whenReady()
        return sink.redis.hmget(sink.shardKeys[shard]!.snapshotProgress, ...BACKFILL_COUNT_FIELDS)
      },
      shards: this.options.shards,
      timers: systemTimers,
      pollMs: this.options.backfillPollMs.markers,
      inactivePollMs: this.options.backfillPollMs.inactive,
      logger: this.baseLogger.child({ component: 'backfill' }),
    })
    return { parts, worker, backfill }
  }

  /** The resync worker: getRepo through one fetcher (limits, SSRF guard, backoff), its writes through the pipeline. */
  private resyncWorker(parts: PipelineRepoSync): ResyncWorker {
    const { options, sink } = this
    const { fetcher, backoff } = createRepoFetcher({
      did: { plcUrl: options.plcUrl },
      allowPrivateHosts: options.allowPrivateHosts,
      limits: { maxConcurrent: options.resyncConcurrency },
    })
    return new ResyncWorker({
      queue: parts.queue,
      writer: this.pipeline,
      fetcher,
      retryAtMs: (did) => backoff.retryAtMs(did),
      sweep: (visit, stopped) =>
        sweepUnsynchronized(
          sink.redis,
          sink.shardKeys.map((keys) => keys.repoStates),
          visit,
          stopped,
        ),
      fetchOptions: { ...(options.resyncFrom !== null ? { source: new URL(options.resyncFrom) } : {}), verify: options.verify },
      concurrency: options.resyncConcurrency,
      partLimits: { maxRecords: options.snapshotPartRecords },
      filter: options.filter === null ? null : new EventFilter(options.filter),
      crash: this.crash,
      counters: this.counters,
      logger: this.baseLogger.child({ component: 'resync' }),
      timers: systemTimers,
    })
  }

  /** One RelayClient per relay in use; relay-failover.ts moves between them (a single relay never moves). */
  private relayFailover(): RelayFailover {
    const { options, pipeline } = this
    return new RelayFailover({
      relays: options.relays,
      failoverAfter: options.failoverAfter,
      probeIntervalMs: options.primaryProbeIntervalMs,
      probeTimeoutMs: options.stallTimeoutMs,
      maxPayloadBytes: options.maxMessageBytes,
      createClient: (relay) => {
        const client = new RelayClient({
          url: relay.url,
          cursor: () => pipeline.intake.cursorForConnect(),
          onFrame: (bytes, receivedAtUs) => pipeline.intake.onFrame(bytes, receivedAtUs),
          logger: this.baseLogger,
          stallTimeoutMs: options.stallTimeoutMs,
          maxPayloadBytes: options.maxMessageBytes,
          ...(options.relayBackoff ? { backoff: options.relayBackoff } : {}),
          ...(options.random ? { random: options.random } : {}),
        })
        client.on('open', () => {
          this.relayConnected = true
          pipeline.intake.onRelayOpen()
        })
        client.on('close', () => (this.relayConnected = false))
        this.client = client
        return client
      },
      switchCursor: (relay) => pipeline.switchRelay(relay.cursorKey),
      storedCursor: async (relay) => lowestCursor(parseStoredCursors(await this.store.read(() => true, relay.cursorKey), this.sink.cursorKeys(relay.cursorKey))),
      onFatal: (err) => void this.stop('fatal', err),
      logger: this.logger,
    })
  }

  /**
   * A Redis that comes back empty (no persistence) has lost the group too: re-create it. One that
   * lost acknowledged writes holds an older cursor: an idle pipeline checks (I4).
   */
  private redisReconnected(): void {
    if (this.state !== 'running' || !this.sink.isReady) return
    this.sink.ensureGroup().catch((err: unknown) => {
      const fatal = redisConfigError(err)
      if (fatal !== null) void this.stop('fatal', fatal)
      else this.logger.warn({ err: { message: (err as Error).message } }, 'could not recreate the consumer group')
    })
    this.pipeline.checkCursorsAfterReconnect().catch((err: unknown) => this.logger.warn({ err: { message: (err as Error).message } }, 'could not check the cursor after Redis reconnected; the next write will'))
  }
}

/** Builds an ingestor from resolved options, loading what only some runs need. */
export async function createIngestor(options: ResolvedOptions): Promise<Ingestor> {
  const counters = emptyCounters()
  const logger = (options.logger ?? silentLogger).child({ component: 'ingestor' })
  // Loaded only when used: verification is the heaviest import, and a restart's first write waits on imports.
  const verify = options.verify ? await import('./verify/frame-verifier.js') : null
  const ingestor = new Ingestor(options, counters, verify === null ? null : (redis) => verify.createFrameVerifier(options, counters, logger, redis))
  await ingestor.serveHealth()
  return ingestor
}

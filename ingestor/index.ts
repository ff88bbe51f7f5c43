import { format } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { exponentialDelayMs } from '../client/backoff.js'
import { RelayClient } from '../client/relay-client.js'
import { redactUrl, silentLogger, type Logger } from '../common/logger.js'
import { CrashPoints } from './crash-points.js'
import { createDecoder } from './decoder.js'
import type { HealthServer } from './health.js'
import { Lease } from './lease.js'
import { resolveOptions, type IngestorOptions, type ResolvedOptions } from './options.js'
import { logTakeover, planTakeover, type TakeoverPlan } from './takeover.js'
import { Pipeline } from './pipeline.js'
import { redisConfigError } from './redis-connection.js'
import { RelayFailover } from './relay-failover.js'
import { RedisSink } from './redis-sink.js'
import type { IngestorState, IngestorStatus, StopReason } from './status.js'
import { StatusReporter } from './status-reporter.js'
import { lowestCursor, parseStoredCursors } from './stored-cursor.js'

export type { IngestorOptions, FutureCursorPolicy } from './options.js'
export type { EventType } from './event-filter.js'
export { INGESTOR_DEFAULTS } from './options.js'
export type { IngestorStatus, IngestorCounters, StopReason } from './status.js'
export { CRASH_POINTS, parseCrashAt } from './crash-points.js'
export { IngestorError, IngestorErrorCode, RedisConfigError, RedisConfigErrorCode } from './errors.js'
export type { RedisTlsOptions } from './redis-target.js'

export interface IngestorHandle {
  status(): IngestorStatus
  /** Graceful: stop reading the relay, drain the queue, write the last batch and cursor. */
  stop(): Promise<void>
  /** Resolves when the ingestor has ended (stop(), FutureCursor with policy 'exit', a fatal error, or with ha the lease lost). */
  done: Promise<void>
  /** The /health, /ready and /metrics server's port when healthPort was given. */
  healthPort: number | null
  /** What ended the ingestor when status().stoppedBy is 'fatal' (a RedisConfigError for configuration errors). */
  error(): unknown
}

/**
 * Starts ingesting: relay -> decode -> Redis stream with the cursor, exactly once.
 * Resolves once the pipeline is wired; connecting to Redis (retried forever) and then to the
 * relay happens in the background, reported by status().state.
 */
export async function startIngestor(input: IngestorOptions): Promise<IngestorHandle> {
  const options = resolveOptions(input)
  const baseLogger = options.logger ?? silentLogger
  const logger = baseLogger.child({ component: 'ingestor' })
  const crash = new CrashPoints(options.crashAt)
  // First: a bad URL or unreadable TLS file throws here, before anything needs closing.
  const sink = new RedisSink(options.redisUrl, options, baseLogger, options.redisBackoff, { tls: options.redisTls, downLogIntervalMs: options.redisDownLogIntervalMs })
  const decoder = createDecoder(options.decodeWorkers, { verifyBlocks: options.verifyBlocks, filter: options.filter, shards: options.shards }, logger)

  let state: IngestorState = 'starting'
  let stoppedBy: StopReason | null = null
  let fatal: string | null = null
  let fatalError: unknown = null
  let stopping: Promise<void> | null = null
  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => (resolveDone = resolve))

  const pipeline = new Pipeline(options, sink, decoder, crash, logger, () => void stop('future-cursor'))
  // Loaded only when used: verification (@atproto/repo, @atproto/crypto) and the health server
  // (prom-client) are the heaviest imports, and a restart's first write waits on imports.
  if (options.verify) pipeline.verifier = (await import('./verify/frame-verifier.js')).createFrameVerifier(options, pipeline.counters, logger)
  // One RelayClient per relay in use; relay-failover.ts moves between them (a single relay never moves).
  const relays = new RelayFailover({
    relays: options.relays,
    failoverAfter: options.failoverAfter,
    probeIntervalMs: options.primaryProbeIntervalMs,
    probeTimeoutMs: options.stallTimeoutMs,
    maxPayloadBytes: options.maxMessageBytes,
    createClient: (relay) => {
      const client = new RelayClient({
        url: relay.url,
        cursor: () => pipeline.cursorForConnect(),
        onFrame: (bytes, receivedAtUs) => pipeline.onFrame(bytes, receivedAtUs),
        logger: baseLogger,
        stallTimeoutMs: options.stallTimeoutMs,
        maxPayloadBytes: options.maxMessageBytes,
        ...(options.relayBackoff ? { backoff: options.relayBackoff } : {}),
        ...(options.random ? { random: options.random } : {}),
      })
      client.on('open', () => {
        relayConnected = true
        pipeline.onRelayOpen()
      })
      client.on('close', () => (relayConnected = false))
      pipeline.attach(client)
      return client
    },
    switchCursor: (relay) => pipeline.switchRelay(relay.cursorKey),
    storedCursor: async (relay) => lowestCursor(parseStoredCursors(await sink.readCursors(relay.cursorKey), sink.cursorKeys(relay.cursorKey))),
    onFatal: (err) => void stop('fatal', err),
    logger,
  })
  sink.describeBacklog = () => ({ queueFrames: pipeline.queue.frames, queueBytes: pipeline.queue.bytes })
  // Wrong credentials, a missing ACL permission, a bad db index: retrying cannot help.
  sink.onFatal = (err) => void stop('fatal', err)
  // A Redis that comes back empty (no persistence) has lost the group too; recreate it.
  // ... and may have lost acknowledged writes: an idle pipeline checks its cursor (I4).
  sink.redis.on('ready', () => {
    if (state !== 'running' || !sink.isReady) return
    sink.ensureGroup().catch((err: unknown) => {
      const fatal = redisConfigError(err)
      if (fatal !== null) void stop('fatal', fatal)
      else logger.warn({ err: { message: (err as Error).message } }, 'could not recreate the consumer group')
    })
    pipeline.checkCursorsAfterReconnect().catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'could not check the cursor after Redis reconnected; the next write will'))
  })

  // HA: only the lease holder writes; onLost ends this run at once (a supervisor restarts it as a standby).
  const lease = options.ha ? new Lease(sink.redis, { key: options.leaseKey, ttlMs: options.leaseTtlMs }, baseLogger) : null
  if (lease !== null) lease.onLost = () => void stop('lease-lost')

  const status = (): IngestorStatus => {
    // Sums the counters of every relay client used so far: read once per status.
    const relayStats = relays.stats
    return {
      state,
      stoppedBy,
      error: fatal,
      storedCursor: pipeline.storedCursor,
      shardCursors: options.shards > 1 ? pipeline.shardCursors : null,
      position: pipeline.position,
      eventLagMs: pipeline.eventLagMs,
      receiveLagMs: pipeline.receiveLagMs,
      lastAckAtMs: pipeline.lastAckAt,
      pendingSinceMs: pipeline.pendingSinceMs,
      writtenByType: pipeline.writtenTypes,
      deadLettersByCode: pipeline.deadLetterCodes,
      eventsPerSec: reporter.eventsPerSec,
      queue: {
        frames: pipeline.queue.frames,
        bytes: pipeline.queue.bytes,
        maxFrames: pipeline.queue.maxFrames,
        maxBytes: pipeline.queue.maxBytes,
        decodedBatches: pipeline.decodedBatches,
      },
      relay: {
        connected: relayConnected,
        paused: relayStats.paused,
        connects: relayStats.connects,
        reconnects: relayStats.reconnects,
        bytesReceived: relayStats.bytesReceived,
        lastError: relayStats.lastError,
        stalls: relayStats.stalls,
        oversizedMessages: relayStats.oversizedMessages,
        textMessagesIgnored: relayStats.textMessagesIgnored,
        active: relays.current.label,
        failovers: relays.failovers,
        primaryReturns: relays.primaryReturns,
      },
      redis: { ready: sink.isReady && pipeline.writesFailingForMs === null, writesFailingForMs: pipeline.writesFailingForMs, lastError: sink.isReady ? null : sink.lastError },
      streamFull: pipeline.streamFull,
      lease: lease === null ? null : { held: lease.held, holder: lease.holder },
      counters: { ...pipeline.counters, decodeWorkerFailures: decoder.workerFailures },
    }
  }
  let relayConnected = false
  const reporter = new StatusReporter(status, logger, options.statusIntervalMs)
  let health: HealthServer | null = null
  try {
    if (options.healthPort !== null) {
      const { startHealthServer } = await import('./health.js')
      health = await startHealthServer({
        host: options.healthHost,
        port: options.healthPort,
        readyWriteTimeoutMs: options.readyWriteTimeoutMs,
        status,
        redis: sink.redis,
        shards: sink.shardKeys,
      })
      const observeWrite = health.observeWrite.bind(health)
      pipeline.onWriteAnswered = observeWrite
    }
  } catch (err) {
    // e.g. the port is taken: release what is already open so the caller's process can exit.
    await decoder.close()
    await sink.close()
    throw err
  }

  async function stop(reason: StopReason, error?: unknown): Promise<void> {
    stopping ??= (async () => {
      const wasRunning = state === 'running'
      state = 'stopping'
      stoppedBy = reason
      if (error !== undefined) {
        fatal = error instanceof Error ? error.message : format('%s', error)
        fatalError = error
        logger.error({ err: error }, 'ingestor failed')
        pipeline.abandon()
      }
      // Another ingestor may be writing already: not one more batch from this one (the CAS cursor fences any in flight).
      if (reason === 'lease-lost') pipeline.abandon()
      logger.info({ reason, queued: pipeline.queue.frames }, 'stopping: no more relay reads; draining the queue')
      await relays.close()
      if (wasRunning) await pipeline.drain().catch((err: unknown) => logger.error({ err }, 'drain failed'))
      reporter.stop()
      await decoder.close()
      await pipeline.verifier?.close()
      await lease?.release()
      await sink.close()
      await health?.close()
      state = 'stopped'
      const final = status()
      logger.info({ reason, storedCursor: final.storedCursor, counters: final.counters }, 'ingestor stopped')
      resolveDone()
    })()
    return stopping
  }

  void (async () => {
    try {
      logger.info(
        {
          ...(options.shards > 1 ? { shards: options.shards } : {}),
          ...(options.redisCluster ? { redisCluster: true } : {}),
          relay: redactUrl(options.relayUrl),
          ...(options.relays.length > 1 ? { fallbackRelays: options.relays.slice(1).map((r) => redactUrl(r.url)) } : {}),
          redis: redactUrl(options.redisUrl),
          stream: options.stream,
          cursorKey: options.cursorKey,
        },
        'ingestor starting',
      )
      // Status lines start now, so a Redis that is down at startup is reported too.
      reporter.start()
      if (lease !== null) {
        state = 'standby'
        if (!(await lease.acquire(() => state !== 'standby'))) return // stopped while a standby
        state = 'starting'
      }
      const uses = { cursorKeyBases: options.relays.map((relay) => relay.cursorKey), probes: options.healthPort !== null, leaseKey: options.ha ? options.leaseKey : null }
      const read = await startupRead(sink, uses, () => state !== 'starting', logger, options)
      // Stopped while waiting for Redis (or, HA, the lease was lost meanwhile).
      if (read === null || state !== 'starting') return
      if (read.takeover !== null) {
        logTakeover(logger, read.takeover, lowestCursor(parseStoredCursors(read.storedRaw, sink.cursorKeys(options.cursorKey))), options.legacyCursorKey!)
        pipeline.counters.takeoverSkipped = read.takeover.skippedEntries
      }
      const finished = pipeline.start(read.storedRaw, read.takeover?.start ?? null)
      state = 'running'
      relays.start()
      finished.catch((err: unknown) => void stop('fatal', err))
    } catch (err) {
      void stop('fatal', err)
    }
  })()

  return { status, stop: () => stop('stop'), done, healthPort: health?.port ?? null, error: () => fatalError }
}

/**
 * Waits for Redis (retrying forever: never exit on a Redis outage), checks that it can do the
 * work (redis-preflight.ts), prepares it and reads the cursors (index = shard) and, with
 * --legacy-cursor-key and no --cursor, where the takeover starts (takeover.ts); null if stopped
 * meanwhile. Configuration errors (redis-connection.ts, refusal.ts) are thrown.
 */
async function startupRead(
  sink: RedisSink,
  uses: Parameters<RedisSink['preflight']>[0],
  cancelled: () => boolean,
  logger: Logger,
  options: Pick<ResolvedOptions, 'redisBackoff' | 'cursorKey' | 'stream' | 'legacyCursorKey' | 'startCursor'>,
): Promise<{ storedRaw: string[]; takeover: TakeoverPlan | null } | null> {
  const backoff = options.redisBackoff
  for (let attempt = 0; !cancelled(); attempt++) {
    try {
      // Wakes up now and then to see whether the run was stopped; the timer never holds the process.
      await Promise.race([sink.whenReady(), sleep(backoff.maxMs, undefined, { ref: false })])
      if (!sink.isReady) continue
      await sink.preflight(uses)
      // After the checks (XGROUP CREATE MKSTREAM writes); the rest in one round trip's time.
      const [, , storedRaw] = await Promise.all([sink.ensureGroup(), sink.loadScript(), sink.readCursors(options.cursorKey)])
      const stored = lowestCursor(parseStoredCursors(storedRaw, sink.cursorKeys(options.cursorKey)))
      const takeover = options.legacyCursorKey === null || options.startCursor !== null ? null : await planTakeover(sink.redis, options.stream, options.legacyCursorKey, stored)
      return { storedRaw, takeover }
    } catch (err) {
      const fatal = redisConfigError(err)
      if (fatal !== null) throw fatal
      logger.warn({ err: { message: (err as Error).message } }, 'redis not ready at startup; retrying')
      await sleep(exponentialDelayMs(backoff, attempt), undefined, { ref: false })
    }
  }
  return null
}

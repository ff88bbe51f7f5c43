import { createIngestor } from './ingestor.js'
import { resolveOptions, type IngestorOptions } from './options.js'
import type { IngestorStatus } from './status.js'

export type { IngestorOptions, FutureCursorPolicy } from './options.js'
export type { EventType } from './event-filter.js'
export { INGESTOR_DEFAULTS } from './options.js'
export type { IngestorStatus, IngestorCounters, StopReason } from './status.js'
export { CRASH_POINTS, parseCrashAt } from './crash-points.js'
export { IngestorError, IngestorErrorCode, RedisConfigError, RedisConfigErrorCode } from './errors.js'
export type { RedisTlsOptions } from '../common/redis-target.js'

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
 * Resolves once the parts are built (ingestor.ts); connecting to Redis (retried forever) and
 * then to the relay happens in the background, reported by status().state.
 */
export async function startIngestor(input: IngestorOptions): Promise<IngestorHandle> {
  const ingestor = await createIngestor(resolveOptions(input))
  ingestor.start()
  return { status: () => ingestor.status(), stop: () => ingestor.stop('stop'), done: ingestor.done, healthPort: ingestor.healthPort, error: () => ingestor.error() }
}

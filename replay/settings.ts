import { silentLogger } from '../common/logger.js'
import { SeededRandom } from '../common/random.js'
import { ReplayError, ReplayErrorCode } from './errors.js'
import { parseFaultSpec } from './faults.js'
import { monotonicTimers, parseReplayRate } from './pacer.js'
import { DEFAULT_PRELOAD_MAX_BYTES } from './source.js'
import { DEFAULT_MAX_CLIENTS, type ReplayOptions } from './types.js'

export const DEFAULT_WINDOW_FRAMES = 100_000
/** The window also stops at this many bytes (real frames average ~5 KB: 100k frames ~ 500 MB otherwise). */
export const WINDOW_MAX_BYTES = 256 * 1024 * 1024
/** Like the Go relay's per-subscriber buffer. */
export const DEFAULT_OUTBOX_FRAMES = 16_384
export const DEFAULT_PING_INTERVAL_MS = 30_000
/** --max stops waiting for a client that takes less than its 512 KiB send buffer in this time (< ~50 KiB/s). */
export const DEFAULT_STUCK_AFTER_MS = 10_000

/** ReplayOptions checked, with every default filled in. */
export type ReplaySettings = Required<ReplayOptions>

/** Checks `options` (a ReplayError for the first bad one, before any file is read) and fills in the defaults. */
export function resolveSettings(options: ReplayOptions): ReplaySettings {
  const window = positiveInt('window', options.window ?? DEFAULT_WINDOW_FRAMES)
  const outbox = positiveInt('outbox', options.outbox ?? DEFAULT_OUTBOX_FRAMES)
  const pingIntervalMs = positiveInt('pingIntervalMs', options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS)
  const stuckAfterMs = positiveInt('stuckAfterMs', options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS)
  const maxClients = positiveInt('maxClients', options.maxClients ?? DEFAULT_MAX_CLIENTS)
  const rate = parseReplayRate(options.rate ?? { mode: 'max' })
  const faults = (options.faults ?? []).map(parseFaultSpec)
  const start = options.start ?? 'now'
  if (!['now', 'paused', 'first-client'].includes(start)) throw new ReplayError(ReplayErrorCode.BadOption, `start must be now, paused or first-client, got ${start}`)
  const seed = options.seed ?? SeededRandom.freshSeed()
  const preloadMaxBytes = options.preloadMaxBytes ?? DEFAULT_PRELOAD_MAX_BYTES
  if (!Number.isSafeInteger(preloadMaxBytes) || preloadMaxBytes < 0) throw new ReplayError(ReplayErrorCode.BadOption, `preloadMaxBytes must be a non-negative integer, got ${preloadMaxBytes}`)
  return {
    files: options.files,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    rate,
    loop: options.loop ?? false,
    start,
    window,
    outbox,
    stuckAfterMs,
    relayQuirks: options.relayQuirks ?? false,
    faults,
    seed,
    logger: options.logger ?? silentLogger,
    preloadMaxBytes,
    pingIntervalMs,
    maxClients,
    pacingTimers: options.pacingTimers ?? monotonicTimers,
    signingKeys: options.signingKeys ?? (() => undefined),
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new ReplayError(ReplayErrorCode.BadOption, `${name} must be a positive integer, got ${value}`, { [name]: value })
  return value
}

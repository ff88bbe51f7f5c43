import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../common/logger.js'
import { retryUntilSuccess } from '../common/retry.js'
import type { ResolvedOptions } from './options.js'
import { redisConfigError } from './redis-connection.js'
import type { RedisSink } from './redis-sink.js'
import { lowestCursor, parseStoredCursors } from './stored-cursor.js'
import { planTakeover, type TakeoverPlan } from './takeover.js'

/** What a run starts from. */
export interface StartupRead {
  /** The stored cursors, raw ('' = no key), index = shard. */
  storedRaw: string[]
  /** With --legacy-cursor-key and no --cursor: where the takeover starts (takeover.ts). */
  takeover: TakeoverPlan | null
}

/** Thrown out of an attempt when the run was stopped while Redis was away. */
class Stopped extends Error {}

/**
 * Waits for Redis (retrying forever: never exit on a Redis outage), checks that it can do the
 * work (redis-preflight.ts), prepares it and reads where to start; null if stopped meanwhile.
 * Configuration errors (redis-connection.ts, refusal.ts) are thrown.
 */
export async function readStartup(
  sink: RedisSink,
  options: Pick<ResolvedOptions, 'repoState' | 'redisBackoff' | 'cursorKey' | 'stream' | 'legacyCursorKey' | 'startCursor' | 'relays' | 'healthPort' | 'ha' | 'leaseKey'>,
  cancelled: () => boolean,
  logger: Logger,
): Promise<StartupRead | null> {
  const uses = { cursorKeyBases: options.relays.map((relay) => relay.cursorKey), probes: options.healthPort !== null, leaseKey: options.ha ? options.leaseKey : null, repoState: options.repoState }
  const attempt = async (): Promise<StartupRead> => {
    // Wakes up now and then to see whether the run was stopped; the timer never holds the process.
    while (!sink.isReady) {
      if (cancelled()) throw new Stopped()
      await Promise.race([sink.whenReady(), sleep(options.redisBackoff.maxMs, undefined, { ref: false })])
    }
    await sink.preflight(uses)
    // After the checks (XGROUP CREATE MKSTREAM writes); the rest in one round trip's time.
    const [, , storedRaw] = await Promise.all([sink.ensureGroup(), sink.loadScript(), sink.readCursors(options.cursorKey)])
    const stored = lowestCursor(parseStoredCursors(storedRaw, sink.cursorKeys(options.cursorKey)))
    const takeover = options.legacyCursorKey === null || options.startCursor !== null ? null : await planTakeover(sink.redis, options.stream, options.legacyCursorKey, stored)
    return { storedRaw, takeover }
  }
  try {
    return await retryUntilSuccess(attempt, {
      backoff: options.redisBackoff,
      isFatal: (err) => err instanceof Stopped || redisConfigError(err) !== null,
      stopped: cancelled,
      onFailure: (err) => logger.warn({ err: { message: (err as Error).message } }, 'redis not ready at startup; retrying'),
      // A stop() meanwhile must not wait for this timer to let the process exit.
      wait: (ms) => sleep(ms, undefined, { ref: false }),
    })
  } catch (err) {
    if (err instanceof Stopped || cancelled()) return null
    throw redisConfigError(err) ?? err
  }
}

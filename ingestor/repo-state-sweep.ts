import { storedUnsynchronized } from '../repo-sync/repo-state-codec.js'
import type { RedisClient } from './redis-connection.js'

/** HSCAN page size: one page is a short command, so the sweep never holds Redis up. */
const SCAN_COUNT = 1_000

/**
 * Finds the repos whose stored state is not `synchronized` (repo-sync/repo-state-codec.ts: the
 * sync state is the top two bits of the first byte, storedUnsynchronized) in the per-repo state hashes, one page at a
 * time: at start-up for the repos a previous run left desynchronized or resyncing, and when more
 * repos needed a resync than the queue holds (resync-queue.ts).
 */
export async function sweepUnsynchronized(redis: RedisClient, keys: readonly string[], visit: (did: string) => Promise<void>, stopped: () => boolean): Promise<void> {
  for (const key of keys) {
    let cursor = '0'
    do {
      const [next, fields] = await redis.hscanBuffer(key, cursor, 'COUNT', SCAN_COUNT)
      cursor = next.toString()
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const value = fields[i + 1]!
        if (storedUnsynchronized(value)) await visit(fields[i]!.toString())
        if (stopped()) return
      }
    } while (cursor !== '0' && !stopped())
  }
}

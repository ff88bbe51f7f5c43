import type { RedisClient } from '../common/redis-client.js'
import { sweepUnsynchronized } from '../ingestor/repo-state-sweep.js'

/**
 * Repos whose stored per-repo state (the hash `key`, `<stream>:repos`) is desynchronized or
 * resyncing: the ingestor withholds their commits until a snapshot covers them, so a stream
 * written with `--repo-state` is not finished while any is left. One HSCAN page at a time.
 */
export async function countAwaitingResync(redis: RedisClient, key: string): Promise<number> {
  let count = 0
  await sweepUnsynchronized(
    redis,
    [key],
    async () => {
      count++
    },
    () => false,
  )
  return count
}

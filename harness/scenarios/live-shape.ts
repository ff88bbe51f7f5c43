import { runPacedLoad } from './paced-load.js'
import type { Scenario } from './types.js'
import { sizes } from './profile.js'

const MAX_LAG_P99_MS = 1000

/**
 * The fixture replayed at its original timing (bursts and lulls as recorded) for 30 s, like
 * production: nothing lost, lag p99 under 1 s, RSS reported.
 */
export const liveShape: Scenario = {
  name: 'live-shape',
  exclusive: true,
  get description() {
    return `original timing for ${sizes().liveSeconds} s, like production: no loss, lag p99 < ${MAX_LAG_P99_MS} ms`
  },
  run: (ctx) => runPacedLoad(ctx, { mode: 'original' }, sizes().liveSeconds, MAX_LAG_P99_MS),
}

import { runPacedLoad } from './paced-load.js'
import type { Scenario } from './types.js'
import { sizes } from './profile.js'

const EVENTS_PER_SEC = 5000
const MAX_LAG_P99_MS = 1000

/** 5k events/s for 10 s (the fixture loops past its end, seqs shifted) into a local Redis: nothing lost, end-to-end lag p99 under 1 s. */
export const throughputSmoke: Scenario = {
  name: 'throughput-smoke',
  exclusive: true,
  get description() {
    return `${EVENTS_PER_SEC} events/s for ${sizes().throughputSeconds} s: no loss, lag p99 < ${MAX_LAG_P99_MS} ms`
  },
  run: (ctx) => runPacedLoad(ctx, { mode: 'rate', eventsPerSec: EVENTS_PER_SEC }, sizes().throughputSeconds, MAX_LAG_P99_MS),
}

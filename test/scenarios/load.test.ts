import { describe } from 'vitest'
import { scenarioTest } from './scenario-test.js'

// Slow and stalled Redis (bounded memory), a stopped consumer group under --max-len (safe trim),
// throughput and production-shaped load.
// In the test suite the lag bound only catches a wedged pipeline: a timed bound would measure
// the machine (CI shares two cores), and speed belongs to bench/ and `firehose loadtest`.
// `firehose scenario throughput-smoke` keeps the 1 s bound for an operator on a quiet machine.
process.env.HARNESS_MAX_LAG_P99_MS ??= '15000'

describe('scenarios: load', () => {
  scenarioTest('slow-redis', 300_000)
  scenarioTest('stalled-redis', 300_000)
  scenarioTest('stopped-group', 180_000)
  scenarioTest('throughput-smoke', 180_000)
  scenarioTest('live-shape', 240_000)
})

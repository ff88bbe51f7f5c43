import { describe } from 'vitest'
import { scenarioTest } from './scenario-test.js'

// Slow and stalled Redis (bounded memory), a stopped consumer group under --max-len (safe trim),
// throughput and production-shaped load.
describe('scenarios: load', () => {
  scenarioTest('slow-redis', 300_000)
  scenarioTest('stalled-redis', 300_000)
  scenarioTest('stopped-group', 180_000)
  scenarioTest('throughput-smoke', 180_000)
  scenarioTest('live-shape', 240_000)
})

import { describe } from 'vitest'
import { scenarioTest } from './scenario-test.js'

// High availability (--ha): leader election by a Redis lease, takeover after kill -9 (docs/ingestor.md).
describe('scenarios: high availability', () => {
  scenarioTest('ha-failover', 300_000)
  scenarioTest('ha-fencing', 180_000)
  scenarioTest('ha-stale-write', 180_000)
})

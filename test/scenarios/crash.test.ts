import { describe } from 'vitest'
import { scenarioTest } from './scenario-test.js'

// Crash recovery: the ingestor and Redis killed at seeded points (see docs/harness.md).
describe('scenarios: crash recovery', () => {
  scenarioTest('cursor-recovery', 300_000)
  scenarioTest('crash-kill9', 600_000, { ciCoveredBy: 'test/ingestor/crash.test.ts (kill -9 of the CLI at every crash point and from outside)' })
  scenarioTest('redis-crash-aof-everysec', 300_000)
  scenarioTest('redis-crash-aof-always', 300_000)
})

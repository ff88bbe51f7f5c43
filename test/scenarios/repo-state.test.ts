import { describe } from 'vitest'
import { scenarioTest } from './scenario-test.js'

// --repo-state end to end through the CLI (docs/repo-sync.md): desyncs resynced, and kill -9 while snapshots are written.
describe('scenarios: per-repo state', () => {
  scenarioTest('desync-resync', 300_000)
  scenarioTest('resync-crash', 300_000)
})

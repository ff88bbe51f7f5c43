import { describe } from 'vitest'
import { FAULT_KINDS } from '../../replay/index.js'
import { scenarioTest } from './scenario-test.js'

// Every fault of the replay server's menu, and a consumer too slow for the relay.
describe('scenarios: relay faults', () => {
  for (const kind of FAULT_KINDS) scenarioTest(`relay-fault-${kind}`, 180_000, { ciCoveredBy: 'test/ingestor/relay-faults.test.ts (the same fault, in process)' })
  scenarioTest('slow-consumer', 300_000)
})

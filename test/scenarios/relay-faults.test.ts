import { describe } from 'vitest'
import { FAULT_KINDS } from '../../replay/index.js'
import { scenarioTest } from './scenario-test.js'

// Every fault of the replay server's menu, and a consumer too slow for the relay.
describe('scenarios: relay faults', () => {
  for (const kind of FAULT_KINDS) scenarioTest(`relay-fault-${kind}`, 180_000)
  scenarioTest('slow-consumer', 300_000)
})

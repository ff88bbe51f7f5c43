import { crashKill9 } from './crash-kill9.js'
import { cursorRecovery } from './cursor-recovery.js'
import type { Scenario } from './types.js'

export { runScenario, reproduceCommand } from './runner.js'
export type { Scenario, ScenarioContext, ScenarioOutcome, ScenarioResult, ScenarioCheck } from './types.js'

/** Every scenario `firehose scenario NAME` can run, in the order the CI suite runs them. */
export const SCENARIOS: readonly Scenario[] = [cursorRecovery, crashKill9]

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name)
}

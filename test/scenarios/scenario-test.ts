import { appendFileSync } from 'node:fs'
import { it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { findScenario, runScenario } from '../../harness/scenarios/index.js'
import { sizes } from '../../harness/scenarios/profile.js'
import { skipTest } from '../support/skip.js'

/** HARNESS_SEED reruns a failure; otherwise a fresh seed per run, printed with the result. */
export const suiteSeed = process.env.HARNESS_SEED === undefined ? SeededRandom.freshSeed() : Number(process.env.HARNESS_SEED)

/**
 * One vitest test per scenario: prints the one-line JSON result (and appends it to
 * HARNESS_RESULTS_FILE when set, for the CI table); fails with the seed and the command
 * that reproduces it; reports a scenario that cannot run here as skipped with its reason.
 * `ciCoveredBy`: the test that proves the same rule in the ci profile (`npm test`), where this
 * scenario is skipped saying so; it runs in the full profile (`npm run test:full`).
 * `seed`: this one instead of `suiteSeed` (a scenario run with several seeds, each its own test).
 */
export function scenarioTest(name: string, timeoutMs: number, options: { ciCoveredBy?: string; seed?: number } = {}): void {
  it(
    options.seed === undefined ? name : `${name} (seed ${options.seed})`,
    async (context) => {
      if (options.ciCoveredBy !== undefined && sizes().profile === 'ci') {
        skipTest(context, `ci profile: covered by ${options.ciCoveredBy}; runs in npm run test:full`)
      }
      const scenario = findScenario(name)
      if (scenario === undefined) throw new Error(`no scenario named ${name}`)
      const result = await runScenario(scenario, { seed: options.seed ?? suiteSeed })
      const line = JSON.stringify(result)
      console.log(line)
      if (process.env.HARNESS_RESULTS_FILE) appendFileSync(process.env.HARNESS_RESULTS_FILE, `${line}\n`)
      if (result.skipped !== undefined) skipTest(context, result.skipped)
      if (!result.ok) throw new Error(`scenario ${name} failed (seed ${result.seed}): ${result.failures.join('; ')}\nreproduce: ${result.reproduce}`)
    },
    timeoutMs,
  )
}

import { silentLogger, type Logger } from '../../common/logger.js'
import { SeededRandom } from '../../common/random.js'
import { withScenarioSlot } from '../scenario-slots.js'
import type { Scenario, ScenarioOutcome, ScenarioResult } from './types.js'

export function reproduceCommand(name: string, seed: number): string {
  return `npx firehose scenario ${name} --seed ${seed}`
}

/**
 * Runs one scenario and turns its outcome (or the error it threw) into the one-line result.
 * A harness error (timeout, child died) is a failed result, not an exception, so a suite run
 * always reports every scenario with its seed.
 */
export async function runScenario(scenario: Scenario, options: { seed?: number; logger?: Logger } = {}): Promise<ScenarioResult> {
  const seed = options.seed ?? SeededRandom.freshSeed()
  let started = performance.now()
  let outcome: ScenarioOutcome
  const failures: string[] = []
  try {
    const ctx = { name: scenario.name, seed, random: new SeededRandom(seed), logger: options.logger ?? silentLogger }
    outcome = await withScenarioSlot(scenario.exclusive === true, () => {
      started = performance.now() // time spent waiting for the slot is not the scenario's
      return scenario.run(ctx)
    })
  } catch (err) {
    outcome = { stream: null, maxRssMb: null }
    failures.push(`error: ${err instanceof Error ? `${err.message}` : String(err)}`)
  }
  const stream = outcome.stream
  if (stream !== null) {
    for (const key of ['lost', 'duplicated', 'outOfOrder', 'mismatched', 'unexpected'] as const) {
      if (stream[key].length > 0) failures.push(`${key}: ${stream[key].length} (first seqs ${stream[key].slice(0, 5).join(', ')})`)
    }
  }
  const checks: Record<string, unknown> = {}
  for (const c of outcome.checks ?? []) {
    checks[c.name] = c.value
    if (!c.ok) failures.push(`${c.name}: got ${JSON.stringify(c.value)}, expected ${c.expected}`)
  }
  const skipped = outcome.skipped !== undefined && failures.length === 0 ? outcome.skipped : undefined
  if (stream === null && skipped === undefined && failures.length === 0) failures.push('no stream check was made')
  return {
    scenario: scenario.name,
    seed,
    ok: failures.length === 0,
    ...(skipped === undefined ? {} : { skipped }),
    expected: stream?.expected ?? 0,
    delivered: stream?.delivered ?? 0,
    lost: stream?.lost.length ?? 0,
    duplicated: stream?.duplicated.length ?? 0,
    outOfOrder: stream?.outOfOrder.length ?? 0,
    mismatched: stream?.mismatched.length ?? 0,
    unexpected: stream?.unexpected.length ?? 0,
    maxRssMb: outcome.maxRssMb,
    durationMs: Math.round(performance.now() - started),
    checks,
    ...outcome.details,
    failures,
    reproduce: reproduceCommand(scenario.name, seed),
  }
}

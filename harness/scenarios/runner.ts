import { silentLogger, type Logger } from '../../common/logger.js'
import { SeededRandom } from '../../common/random.js'
import { withScenarioSlot } from '../scenario-slots.js'
import type { StreamCheckResult } from '../../stream-check/stream-checker.js'
import type { Scenario, ScenarioOutcome, ScenarioResult, ShardCounts } from './types.js'

/** The seq lists of a stream check that fail a scenario when not empty. */
const COUNTED = ['lost', 'duplicated', 'outOfOrder', 'mismatched', 'unexpected'] as const

type Counts = Omit<ShardCounts, 'shard' | 'stream'>

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
  // One unnamed stream, or one per shard (each judged on its own, the line sums them).
  const streams = outcome.shards?.map(({ shard, stream, result }) => ({ label: `shard ${shard} (${stream}) `, result })) ?? (outcome.stream === null ? [] : [{ label: '', result: outcome.stream }])
  for (const { label, result } of streams) {
    for (const key of COUNTED) {
      if (result[key].length > 0) failures.push(`${label}${key}: ${result[key].length} (first seqs ${result[key].slice(0, 5).join(', ')})`)
    }
  }
  const checks: Record<string, unknown> = {}
  for (const c of outcome.checks ?? []) {
    checks[c.name] = c.value
    if (!c.ok) failures.push(`${c.name}: got ${JSON.stringify(c.value)}, expected ${c.expected}`)
  }
  const skipped = outcome.skipped !== undefined && failures.length === 0 ? outcome.skipped : undefined
  if (streams.length === 0 && skipped === undefined && failures.length === 0) failures.push('no stream check was made')
  return {
    scenario: scenario.name,
    seed,
    ok: failures.length === 0,
    ...(skipped === undefined ? {} : { skipped }),
    ...counts(streams.map(({ result }) => result)),
    maxRssMb: outcome.maxRssMb,
    durationMs: Math.round(performance.now() - started),
    checks,
    ...(outcome.shards === undefined ? {} : { shards: outcome.shards.map(({ shard, stream, result }) => ({ shard, stream, ...counts([result]) })) }),
    ...outcome.details,
    failures,
    reproduce: reproduceCommand(scenario.name, seed),
  }
}

/** Counts of the result line, summed over `results` (all zero when none). */
function counts(results: readonly StreamCheckResult[]): Counts {
  const total: Counts = { expected: 0, delivered: 0, lost: 0, duplicated: 0, outOfOrder: 0, mismatched: 0, unexpected: 0 }
  for (const result of results) {
    total.expected += result.expected
    total.delivered += result.delivered
    for (const key of COUNTED) total[key] += result[key].length
  }
  return total
}

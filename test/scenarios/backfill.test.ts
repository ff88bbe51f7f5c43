import { describe, expect, it } from 'vitest'
import type { ScenarioResult } from '../../harness/scenarios/index.js'
import { runCli } from '../support/cli.js'
import { scenarioTest, suiteSeed } from './scenario-test.js'

/** Seeds after the suite's (HARNESS_SEED=N reruns N, N+1, N+2). */
const seedAfter = (n: number): number => (suiteSeed + n) >>> 0

// Backfill beside a live ingest, both real processes killed -9 and restarted (docs/harness.md):
// every listed repo done exactly once, the model AppView equal to the ground truth.
describe('scenarios: backfill', () => {
  scenarioTest('backfill-crash', 300_000, { seed: seedAfter(0) })
  // A second in-process seed only in the full profile: in the ci profile the CLI case below is the second seed.
  scenarioTest('backfill-crash', 300_000, { seed: seedAfter(1), ciCoveredBy: 'the first seed and the CLI case of test/scenarios/backfill.test.ts' })

  // The ci size whatever the profile: this case is about the CLI (exit code, result line, the harness from dist/), not the size.
  it('firehose scenario backfill-crash: exit 0 and the result line, as an operator runs it', async () => {
    const seed = seedAfter(2)
    const { code, stdout, stderr } = await runCli(['scenario', 'backfill-crash', '--seed', String(seed)], { env: { ...process.env, HARNESS_PROFILE: 'ci' }, timeoutMs: 170_000 })
    expect(stdout, `seed ${seed}: no result line; stderr:\n${stderr}`).toMatch(/^\{.*\}\n$/)
    const result = JSON.parse(stdout) as ScenarioResult
    expect(result, `seed ${seed}: ${result.failures.join('; ')}\n${stderr}`).toMatchObject({ scenario: 'backfill-crash', seed, ok: true, lost: 0, duplicated: 0 })
    expect(code, `seed ${seed}`).toBe(0)
  }, 180_000)
})

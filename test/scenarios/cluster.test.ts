import { describe, expect, it } from 'vitest'
import { runScenario, type ScenarioResult } from '../../harness/scenarios/index.js'
import { SnapshotChecker } from '../../stream-check/snapshot-check.js'
import type { StreamCheckResult } from '../../stream-check/stream-checker.js'
import { runCli } from '../support/cli.js'
import { scenarioTest } from './scenario-test.js'

// Sharded ingestion on a 3-master Redis Cluster, the ingestor and one master killed; then a
// master killed for good and its replica (lacking its last writes) promoted (see docs/harness.md).
describe('scenarios: Redis Cluster', () => {
  scenarioTest('cluster-shards', 300_000)
  scenarioTest('cluster-failover', 300_000)

  it('a missing redis-cli fails the scenario with a message naming it and HARNESS_REDIS_CLI', async () => {
    const { code, stdout } = await runCli(['scenario', 'cluster-shards', '--seed', '1'], { env: { ...process.env, HARNESS_REDIS_CLI: '/nonexistent/redis-cli' }, timeoutMs: 120_000 })
    expect(code).toBe(1)
    const result = JSON.parse(stdout) as ScenarioResult
    expect(result.failures).toEqual([expect.stringMatching(/\/nonexistent\/redis-cli not found: .*redis-cli --cluster create.*HARNESS_REDIS_CLI/)])
  }, 180_000)

  it('the result line sums the shard checks, lists each, and fails naming the shard that lost events', async () => {
    const shard = (expected: number, lost: number[]): StreamCheckResult => ({
      expected,
      delivered: expected - lost.length,
      lost,
      duplicated: [],
      outOfOrder: [],
      mismatched: [],
      unexpected: [],
      withheld: { commits: [], syncs: [] },
      late: [],
      snapshots: new SnapshotChecker().report(),
      awaitingResync: 0,
      entries: expected - lost.length,
      ok: lost.length === 0,
    })
    const result = await runScenario(
      {
        name: 'fake-shards',
        description: '',
        run: async () => ({
          stream: null,
          maxRssMb: null,
          shards: [
            { shard: 0, stream: 's:0', result: shard(5, []) },
            { shard: 1, stream: 's:1', result: shard(4, [7, 9]) },
          ],
        }),
      },
      { seed: 1 },
    )
    expect(result).toMatchObject({ ok: false, expected: 9, delivered: 7, lost: 2, duplicated: 0 })
    expect(result.shards).toEqual([
      { shard: 0, stream: 's:0', expected: 5, delivered: 5, lost: 0, duplicated: 0, outOfOrder: 0, mismatched: 0, unexpected: 0 },
      { shard: 1, stream: 's:1', expected: 4, delivered: 2, lost: 2, duplicated: 0, outOfOrder: 0, mismatched: 0, unexpected: 0 },
    ])
    expect(result.failures).toEqual(['shard 1 (s:1) lost: 2 (first seqs 7, 9)'])
  })
})

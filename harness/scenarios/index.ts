import { backfillCrash } from './backfill.js'
import { clusterFailover } from './cluster-failover.js'
import { clusterShards } from './cluster-shards.js'
import { crashKill9 } from './crash-kill9.js'
import { cursorRecovery } from './cursor-recovery.js'
import { haFailover } from './ha-failover.js'
import { haFencing, haStaleWrite } from './ha-fencing.js'
import { redisCrashAlways, redisCrashEverysec } from './redis-crash.js'
import { desyncResync, resyncCrash } from './repo-state.js'
import { RELAY_FAULT_SCENARIOS } from './relay-faults.js'
import { slowRedis } from './slow-redis.js'
import { stalledRedis } from './stalled-redis.js'
import { stoppedGroup } from './stopped-group.js'
import { slowConsumer } from './slow-consumer.js'
import { throughputSmoke } from './throughput.js'
import { liveShape } from './live-shape.js'
import type { Scenario } from './types.js'

export { runScenario, reproduceCommand } from './runner.js'
export type { Scenario, ScenarioContext, ScenarioOutcome, ScenarioResult, ScenarioCheck, ShardCounts } from './types.js'

/** Every scenario `firehose scenario NAME` can run, in the order the CI suite runs them. */
export const SCENARIOS: readonly Scenario[] = [
  cursorRecovery,
  crashKill9,
  redisCrashEverysec,
  redisCrashAlways,
  ...RELAY_FAULT_SCENARIOS,
  slowRedis,
  stalledRedis,
  slowConsumer,
  stoppedGroup,
  throughputSmoke,
  liveShape,
  haFailover,
  haFencing,
  haStaleWrite,
  clusterShards,
  clusterFailover,
  desyncResync,
  resyncCrash,
  backfillCrash,
]

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name)
}

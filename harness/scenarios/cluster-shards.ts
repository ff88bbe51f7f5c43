import { sleep } from '../wait.js'
import { runClusterLives, startWritingIngestor, waitWhileRunning } from './cluster-lives.js'
import { withClusterRig, type ClusterRig } from './cluster-rig.js'
import { scenarioFixture } from './common.js'
import type { Scenario, ScenarioContext } from './types.js'
import { sizes } from './profile.js'

const SHARDS = 3
const REPLAY_EVENTS_PER_SEC = 3000
/** A dead master fails the cluster after this long; short, so the outage is seen within the run. */
const NODE_TIMEOUT_MS = 1000

/**
 * `firehose ingest --redis-cluster --shards 3` on a 3-master Redis Cluster (aof-always), the
 * replay at 3000 events/s: the ingestor SIGKILLed at seeded points (kill-plan.ts, as in
 * crash-kill9), and once, while one life runs, a seeded master SIGKILLed and restarted on its
 * port. Every shard stream must end with each of its events exactly once, in relay order, and
 * every shard cursor at the last seq.
 */
export const clusterShards: Scenario = {
  name: 'cluster-shards',
  get description() {
    return `--redis-cluster --shards ${SHARDS} on a 3-master cluster: kill -9 the ingestor ${sizes().clusterKills} times, one master SIGKILLed and restarted; per shard 0 lost, 0 duplicated, in order`
  },
  async run(ctx) {
    const fixture = await scenarioFixture()
    const options = { fixture, shards: SHARDS, rate: { mode: 'rate', eventsPerSec: REPLAY_EVENTS_PER_SEC } as const, nodeTimeoutMs: NODE_TIMEOUT_MS }
    return withClusterRig(ctx, options, (rig) => runClusterLives(ctx, rig, sizes().clusterKills, { name: 'masterKill', during: (lastSeq) => killMasterDuringALife(ctx, rig, lastSeq) }))
  },
}

/**
 * One ingestor life in which a seeded master is SIGKILLed once writes flow, kept down for a
 * seeded 0.5-2 s (the cluster fails after NODE_TIMEOUT_MS), restarted on its port and data dir,
 * and the cluster waited healthy. The ingestor must ride it out (retrying the failed writes)
 * and move on; then this life ends with a SIGKILL too.
 */
async function killMasterDuringALife(ctx: ScenarioContext, rig: ClusterRig, lastSeq: number): Promise<{ details: Record<string, unknown>; checks: [] }> {
  const ingestor = await startWritingIngestor(rig, lastSeq)
  await sleep(ctx.random.int(0, 500))
  const index = ctx.random.int(0, rig.cluster.nodes.length - 1)
  const node = rig.cluster.nodes[index]!
  const downMs = ctx.random.int(500, 2000)
  const cursorAtKill = await rig.storedCursor()
  await node.kill()
  await sleep(downMs)
  const restarted = performance.now()
  await node.restart()
  await rig.cluster.waitHealthy()
  const healthyAfterRestartMs = Math.round(performance.now() - restarted)
  if (ingestor.exit !== null) throw ingestor.failure(`exited while master ${index} was down or rejoining`)
  const resumed = performance.now()
  await waitWhileRunning(ingestor, async () => ((await rig.storedCursor()) ?? 0) > (cursorAtKill ?? 0) || ((await rig.storedCursor()) ?? 0) >= lastSeq, 'writes after the master came back')
  const writesResumedAfterMs = Math.round(performance.now() - resumed)
  await ingestor.kill9()
  return { details: { node: index, port: Number(new URL(node.url).port), downMs, cursorAtKill, healthyAfterRestartMs, writesResumedAfterMs }, checks: [] }
}

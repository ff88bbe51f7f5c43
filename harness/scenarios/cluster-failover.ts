import { HarnessError, HarnessErrorCode } from '../errors.js'
import type { IngestorProcess } from '../ingestor-process.js'
import type { RedisClusterHandle, RedisHandle } from '../redis/index.js'
import { sleep, waitUntil } from '../wait.js'
import { runClusterLives, startWritingIngestor, waitWhileRunning } from './cluster-lives.js'
import { withClusterRig, type ClusterRig } from './cluster-rig.js'
import { check, scenarioFixture } from './common.js'
import type { Scenario, ScenarioCheck, ScenarioContext } from './types.js'
import { sizes } from './profile.js'

const SHARDS = 3
const REPLAY_EVENTS_PER_SEC = 2000
/** Short, so the dead master is failed and its replica promoted within a couple of seconds. */
const NODE_TIMEOUT_MS = 1000
const PROMOTION_TIMEOUT_MS = 30_000
/** The shard whose master dies. */
const SHARD = 0

/**
 * `firehose ingest --redis-cluster --shards 3` on 3 masters with one replica each (no
 * persistence: the dead master never restarts, and no replica restarts, so only replication can
 * lose writes), the replay at 2000 events/s. In one ingestor life the replication link of shard
 * 0's master is cut, the master takes at least one more shard 0 write, and is SIGKILLed for good:
 * its replica is promoted without that write, so shard 0's cursor goes back. The ingestor must
 * resync and refetch; two more lives end in seeded SIGKILLs. Every shard stream must end with
 * each of its events exactly once, in relay order, and every shard cursor at the last seq.
 */
export const clusterFailover: Scenario = {
  name: 'cluster-failover',
  get description() {
    return `--redis-cluster --shards ${SHARDS} on 3 masters + 3 replicas: shard ${SHARD}'s master SIGKILLed for good after writes its replica lacks, the replica promoted; kill -9 the ingestor ${sizes().failoverKills} times; per shard 0 lost, 0 duplicated, in order`
  },
  async run(ctx) {
    const fixture = await scenarioFixture()
    const options = {
      fixture,
      shards: SHARDS,
      rate: { mode: 'rate', eventsPerSec: REPLAY_EVENTS_PER_SEC } as const,
      nodeTimeoutMs: NODE_TIMEOUT_MS,
      persistence: 'none' as const,
      replicasPerMaster: 1,
    }
    return withClusterRig(ctx, options, (rig) => runClusterLives(ctx, rig, sizes().failoverKills, { name: 'failover', during: (lastSeq) => failoverDuringALife(ctx, rig, lastSeq) }))
  },
}

/**
 * One ingestor life (with /health on a free port, for its counters) through the failover of
 * shard 0's master; it ends with a SIGKILL once shard 0 is written again and every shard has
 * moved past the promoted replica's cursor.
 */
async function failoverDuringALife(ctx: ScenarioContext, rig: ClusterRig, lastSeq: number): Promise<{ details: Record<string, unknown>; checks: ScenarioCheck[] }> {
  const ingestor = await startWritingIngestor(rig, lastSeq, ['--health-port', '0'])
  await sleep(ctx.random.int(0, 500))
  const victim = await rig.shardOwner(SHARD)
  const replica = await replicaOf(rig.cluster, victim)
  const done = async (): Promise<boolean> => ((await rig.storedCursor()) ?? 0) >= lastSeq

  // Replication is asynchronous; a cut link makes the window in which the master acknowledges
  // writes its replica never gets wide enough to aim at. The wrong masterauth keeps the replica
  // from reconnecting (its AUTH is refused) until the master is dead.
  await replica.cli('CONFIG', 'SET', 'masterauth', `cut-by-${ctx.name}`)
  await victim.cli('CLIENT', 'KILL', 'TYPE', 'replica')
  const cursorAtCut = (await rig.cursorOn(victim, SHARD)) ?? 0
  await waitWhileRunning(ingestor, async () => ((await rig.cursorOn(victim, SHARD)) ?? 0) > cursorAtCut || (await done()), `a shard ${SHARD} write past cursor ${cursorAtCut}`, 5)
  const cursorAtKill = await rig.cursorOn(victim, SHARD)
  await victim.kill()
  const killedAt = performance.now()
  const since = (): number => Math.round(performance.now() - killedAt)

  await waitUntil(async () => (await replica.cli('ROLE').catch(() => '')).startsWith('master'), { what: `the promotion of ${replica.url}`, timeoutMs: PROMOTION_TIMEOUT_MS, intervalMs: 20 }).catch(
    async (err: unknown) => {
      // Why a replica is not promoted shows in its replication state and its view of the cluster.
      const state = await Promise.all([replica.cli('INFO', 'replication'), replica.cli('CLUSTER', 'NODES')].map((reply) => reply.catch((cause: Error) => cause.message)))
      throw new HarnessError(HarnessErrorCode.Timeout, `${(err as Error).message}; replica: ${state.join(' | ').replace(/\s+/g, ' ')}`, { replica: replica.url })
    },
  )
  const promotedAfterMs = since()
  const cursorAfterPromotion = await rig.cursorOn(replica, SHARD)
  await waitWhileRunning(ingestor, async () => ((await rig.cursorOn(replica, SHARD).catch(() => null)) ?? 0) > (cursorAfterPromotion ?? 0) || (await done()), `the first shard ${SHARD} write after the failover`)
  const firstWriteAfterMs = since()
  await rig.cluster.waitHealthy()
  const healthyAfterMs = since()
  // Past the cursor the dead master had: the refetched events are in, the ingestor is back on track.
  await waitWhileRunning(ingestor, async () => ((await rig.storedCursor()) ?? 0) > (cursorAtKill ?? 0) || (await done()), `every shard cursor past ${cursorAtKill}`)
  const caughtUpAfterMs = since()
  const counters = await healthCounters(ingestor)
  await ingestor.kill9()

  const resyncs = ingestor.logs.filter((record) => record.msg === 'resynchronising: restarting the relay from the stored cursor')
  const details = {
    victim: port(victim),
    promoted: port(replica),
    cursorAtCut,
    cursorAtKill,
    cursorAfterPromotion,
    promotedAfterMs,
    firstWriteAfterMs,
    healthyAfterMs,
    caughtUpAfterMs,
    resyncs: counters.resyncs,
    casMismatches: counters.casMismatches,
    redisErrors: counters.redisErrors,
    resyncReasons: resyncs.map((record) => record.reason),
  }
  return {
    details,
    checks: [
      // Else the run proved nothing about lost writes: the replica had everything.
      check('promotedReplicaLacksWrites', cursorAfterPromotion !== null && cursorAtKill !== null && cursorAfterPromotion < cursorAtKill, { cursorAtKill, cursorAfterPromotion }, 'replica cursor < dead master cursor'),
      check('resyncedAfterFailover', counters.resyncs >= 1, counters.resyncs, '>= 1 resync'),
    ],
  }
}

/** The replica of `master` (the first, if it has several). */
async function replicaOf(cluster: RedisClusterHandle, master: RedisHandle): Promise<RedisHandle> {
  for (const node of cluster.nodes) {
    if ((await cluster.replicaOf(node)) === master) return node
  }
  throw new HarnessError(HarnessErrorCode.InvalidConfig, `master ${master.url} has no replica`, { master: master.url })
}

/** The pipeline counters of a running ingestor, from GET /health. */
async function healthCounters(ingestor: IngestorProcess): Promise<{ resyncs: number; casMismatches: number; redisErrors: number }> {
  const record = await ingestor.waitForLog((line) => line.msg === 'health endpoint on GET /health', 10_000, 'the health endpoint')
  const response = await fetch(`http://127.0.0.1:${String(record.port)}/health`)
  const body = (await response.json()) as { counters: { resyncs: number; casMismatches: number; redisErrors: number } }
  return body.counters
}

function port(node: RedisHandle): number {
  return Number(new URL(node.url).port)
}

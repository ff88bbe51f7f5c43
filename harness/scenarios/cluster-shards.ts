import { HarnessError, HarnessErrorCode } from '../errors.js'
import type { IngestorProcess } from '../ingestor-process.js'
import { sleep, waitUntil } from '../wait.js'
import { withClusterRig, type ClusterRig } from './cluster-rig.js'
import { check, scenarioFixture } from './common.js'
import { expectSigkill, liveUntilKilled, planKills } from './kill-plan.js'
import type { Scenario, ScenarioCheck, ScenarioContext, ScenarioOutcome } from './types.js'

/** 5 by default (under a minute on two busy cores); HARNESS_CLUSTER_KILLS scales it (documented in docs/harness.md). */
const KILLS = Number(process.env.HARNESS_CLUSTER_KILLS ?? 5)
const SHARDS = 3
const REPLAY_EVENTS_PER_SEC = 3000
/** A dead master fails the cluster after this long; short, so the outage is seen within the run. */
const NODE_TIMEOUT_MS = 1000
const TIMEOUT_MS = 120_000

/**
 * `firehose ingest --redis-cluster --shards 3` on a 3-master Redis Cluster (aof-always), the
 * replay at 3000 events/s: the ingestor SIGKILLed at seeded points (kill-plan.ts, as in
 * crash-kill9), and once, while one life runs, a seeded master SIGKILLed and restarted on its
 * port. Every shard stream must end with each of its events exactly once, in relay order, and
 * every shard cursor at the last seq.
 */
export const clusterShards: Scenario = {
  name: 'cluster-shards',
  description: `--redis-cluster --shards ${SHARDS} on a 3-master cluster: kill -9 the ingestor ${KILLS} times, one master SIGKILLed and restarted; per shard 0 lost, 0 duplicated, in order`,
  async run(ctx) {
    if (!Number.isInteger(KILLS) || KILLS < 1) {
      throw new HarnessError(HarnessErrorCode.InvalidConfig, `HARNESS_CLUSTER_KILLS must be a positive integer, got "${process.env.HARNESS_CLUSTER_KILLS}"`, { value: process.env.HARNESS_CLUSTER_KILLS })
    }
    const fixture = await scenarioFixture()
    const options = { fixture, shards: SHARDS, rate: { mode: 'rate', eventsPerSec: REPLAY_EVENTS_PER_SEC } as const, nodeTimeoutMs: NODE_TIMEOUT_MS }
    return withClusterRig(ctx, options, (rig) => killRepeatedly(ctx, rig))
  },
}

async function killRepeatedly(ctx: ScenarioContext, rig: ClusterRig): Promise<ScenarioOutcome> {
  const total = (await rig.expected()).length
  const lastSeq = await rig.lastExpectedSeq()
  const plans = planKills(ctx, KILLS, total)
  // In the first half of the lives, so the replay is still publishing when the master dies.
  const masterLife = ctx.random.int(0, Math.floor(KILLS / 2))
  const byKind: Record<string, number> = {}
  let selfKills = 0
  let cursorBehindEntries = 0
  let master: Record<string, unknown> | null = null
  for (const [life, plan] of plans.entries()) {
    if (life === masterLife) {
      master = await killMasterDuringALife(ctx, rig, lastSeq)
      cursorBehindEntries += await shardsWithCursorBehindEntries(rig)
    }
    const ingestor = await rig.startIngestor(plan.kind === 'crash-point' ? { crashAt: plan.crashAt } : {})
    if (await liveUntilKilled(rig, ingestor, plan, lastSeq)) selfKills++
    await expectSigkill(ingestor, plan)
    byKind[plan.kind] = (byKind[plan.kind] ?? 0) + 1
    cursorBehindEntries += await shardsWithCursorBehindEntries(rig)
  }
  const entriesAtLastKill = await rig.streamLength()
  const final = await rig.startIngestor()
  const finished = await finishAndCheckShards(rig, final, lastSeq)
  return {
    stream: null,
    shards: finished.shards,
    maxRssMb: rig.maxRssMb,
    checks: [
      ...finished.checks,
      // Entries and cursor are one script per shard: after any kill a shard's cursor covers its newest entry.
      check('shardCursorCoversLastEntryAfterEachKill', cursorBehindEntries === 0, cursorBehindEntries, '0 shards with cursor < their last entry'),
    ],
    details: { shardCount: SHARDS, kills: plans.length, killsByKind: byKind, entriesAtLastKill, selfKillsAtCrashPoints: selfKills, masterKill: master },
  }
}

/**
 * One ingestor life in which a seeded master is SIGKILLed once writes flow, kept down for a
 * seeded 0.5-2 s (the cluster fails after NODE_TIMEOUT_MS), restarted on its port and data dir,
 * and the cluster waited healthy. The ingestor must ride it out (retrying the failed writes)
 * and move on; then this life ends with a SIGKILL too.
 */
async function killMasterDuringALife(ctx: ScenarioContext, rig: ClusterRig, lastSeq: number): Promise<Record<string, unknown>> {
  const ingestor = await rig.startIngestor()
  await ingestor.waitForLog((record) => record.msg === 'relay connected', TIMEOUT_MS, 'the relay connection')
  const lengthBefore = await rig.streamLength()
  await waitWhileRunning(ingestor, async () => (await rig.streamLength()) > lengthBefore || ((await rig.storedCursor()) ?? 0) >= lastSeq, 'a write before the master kill')
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
  return { node: index, port: Number(new URL(node.url).port), downMs, cursorAtKill, healthyAfterRestartMs, writesResumedAfterMs }
}

async function waitWhileRunning(ingestor: IngestorProcess, done: () => Promise<boolean>, what: string): Promise<void> {
  await waitUntil(
    async () => {
      if (ingestor.exit !== null) throw ingestor.failure(`exited while waiting for ${what}`)
      return done()
    },
    { what, timeoutMs: TIMEOUT_MS, intervalMs: 20 },
  )
}

/** Shards whose stored cursor is below the seq of their newest entry (entries written without their cursor). */
async function shardsWithCursorBehindEntries(rig: ClusterRig): Promise<number> {
  const [cursors, newest] = await Promise.all([rig.shardCursors(), rig.lastEntrySeqs()])
  return newest.filter((seq, shard) => seq !== null && (cursors[shard] ?? -1) < seq).length
}

/**
 * Waits until every shard cursor reaches `lastSeq`, stops the ingestor (SIGTERM; must exit 0)
 * and checks each shard stream against the fixture events of its repos.
 */
async function finishAndCheckShards(rig: ClusterRig, ingestor: IngestorProcess, lastSeq: number): Promise<{ shards: ScenarioOutcome['shards']; checks: ScenarioCheck[] }> {
  await waitWhileRunning(ingestor, async () => ((await rig.storedCursor()) ?? 0) >= lastSeq, `every shard cursor >= ${lastSeq}`)
  // A SIGTERM before its signal handlers exist would just kill it.
  await ingestor.waitForLog((record) => record.msg === 'relay connected', TIMEOUT_MS, 'the relay connection')
  const exit = await ingestor.stop()
  const cursors = await rig.shardCursors()
  const result = await rig.check()
  return {
    shards: result.shards,
    checks: [
      check('gracefulExitCode', exit.code === 0, exit.code, '0 after SIGTERM'),
      check('shardCursorsAtLastSeq', cursors.every((cursor) => cursor === lastSeq), cursors, `every shard cursor == ${lastSeq}`),
      // Sharding happened: a DID hash that sent everything to one shard would pass the rest.
      check('everyShardHasEvents', result.shards.every(({ result: shard }) => shard.expected > 0), result.shards.map(({ result: shard }) => shard.expected), '> 0 expected events per shard'),
    ],
  }
}

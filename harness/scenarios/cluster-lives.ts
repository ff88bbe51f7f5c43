import type { IngestorProcess } from '../ingestor-process.js'
import { waitUntil } from '../wait.js'
import type { ClusterRig } from './cluster-rig.js'
import { check } from './common.js'
import { expectSigkill, liveUntilKilled, planKills } from './kill-plan.js'
import type { ScenarioCheck, ScenarioContext, ScenarioOutcome } from './types.js'

const TIMEOUT_MS = 120_000

/** One ingestor life in which the scenario breaks the cluster; it ends that life itself (SIGKILL). */
export interface ClusterDisruption {
  /** Key of `details` under which the result of `during` is reported. */
  name: string
  during(lastSeq: number): Promise<{ details: Record<string, unknown>; checks: ScenarioCheck[] }>
}

/**
 * `kills` ingestor lives ended by seeded SIGKILLs (kill-plan.ts, as in crash-kill9), one of the
 * first half of them preceded by the disruption's life; then a last ingestor that must write
 * every shard cursor up to the last seq and exit 0 on SIGTERM, and the per-shard checks.
 */
export async function runClusterLives(ctx: ScenarioContext, rig: ClusterRig, kills: number, disruption: ClusterDisruption): Promise<ScenarioOutcome> {
  const total = (await rig.expected()).length
  const lastSeq = await rig.lastExpectedSeq()
  const plans = planKills(ctx, kills, total)
  // In the first half of the lives, so the replay is still publishing when the cluster breaks.
  const disruptedLife = ctx.random.int(0, Math.floor(kills / 2))
  const byKind: Record<string, number> = {}
  let selfKills = 0
  let cursorBehindEntries = 0
  let disrupted: Awaited<ReturnType<ClusterDisruption['during']>> | null = null
  for (const [life, plan] of plans.entries()) {
    if (life === disruptedLife) {
      disrupted = await disruption.during(lastSeq)
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
      ...(disrupted?.checks ?? []),
      ...finished.checks,
      // Entries and cursor are one script per shard: after any kill a shard's cursor covers its newest entry.
      check('shardCursorCoversLastEntryAfterEachKill', cursorBehindEntries === 0, cursorBehindEntries, '0 shards with cursor < their last entry'),
    ],
    details: { shardCount: rig.options.shards, kills: plans.length, killsByKind: byKind, entriesAtLastKill, selfKillsAtCrashPoints: selfKills, [disruption.name]: disrupted?.details ?? null },
  }
}

/** An ingestor started and waited for until it has written (or everything is written already). */
export async function startWritingIngestor(rig: ClusterRig, lastSeq: number, args: string[] = []): Promise<IngestorProcess> {
  const ingestor = await rig.startIngestor({ args })
  await ingestor.waitForLog((record) => record.msg === 'relay connected', TIMEOUT_MS, 'the relay connection')
  const lengthBefore = await rig.streamLength()
  await waitWhileRunning(ingestor, async () => (await rig.streamLength()) > lengthBefore || ((await rig.storedCursor()) ?? 0) >= lastSeq, 'a write')
  return ingestor
}

/** Waits for `done`, failing as soon as the ingestor exits. */
export async function waitWhileRunning(ingestor: IngestorProcess, done: () => Promise<boolean>, what: string, intervalMs = 20): Promise<void> {
  await waitUntil(
    async () => {
      if (ingestor.exit !== null) throw ingestor.failure(`exited while waiting for ${what}`)
      return done()
    },
    { what, timeoutMs: TIMEOUT_MS, intervalMs },
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
      check(
        'shardCursorsAtLastSeq',
        cursors.every((cursor) => cursor === lastSeq),
        cursors,
        `every shard cursor == ${lastSeq}`,
      ),
      // Sharding happened: a DID hash that sent everything to one shard would pass the rest.
      check(
        'everyShardHasEvents',
        result.shards.every(({ result: shard }) => shard.expected > 0),
        result.shards.map(({ result: shard }) => shard.expected),
        '> 0 expected events per shard',
      ),
    ],
  }
}

import { repoStateKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { openRedisClient } from '../../common/redis-open.js'
import { readFixtureFrames } from '../../fixture-file/index.js'
import { CRASH_POINTS } from '../../ingestor/crash-points.js'
import { decodeEvent, type SequencedEvent } from '../../protocol/events.js'
import type { FaultSpec } from '../../replay/index.js'
import { groundTruth } from '../../stream-check/ground-truth.js'
import { diffRepos, ModelAppView } from '../../stream-check/model-appview.js'
import { countAwaitingResync } from '../../stream-check/repo-states.js'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { cachedGeneratedFixture } from '../fixture-cache.js'
import type { IngestorProcess } from '../ingestor-process.js'
import { waitUntil } from '../wait.js'
import { check } from './common.js'
import { sizes } from './profile.js'
import { withRig, type Rig } from './rig.js'
import type { Scenario, ScenarioCheck, ScenarioContext, ScenarioOutcome } from './types.js'

/** A --from-creation fixture (every repo exportable by the replay's getRepo), smaller than the others: each desync costs a getRepo. */
const EVENTS = (): number => Math.min(sizes().fixtureEvents, 2_000)
const FIXTURE_SEED = 1
/** Commits lost upstream per run. */
const LOSSES = 6
/** Records per snapshot part: small, so a repo's snapshot has parts for kills to fall between. */
const PART_RECORDS = 4

export const desyncResync: Scenario = {
  name: 'desync-resync',
  get description() {
    return `--repo-state over a ${EVENTS()}-event replay that loses ${LOSSES} commits and answers getRepo 500, 429 and slowly: every repo resynced, the model AppView from the stream equal to the ground truth`
  },
  run: (ctx) => repoStateRun(ctx, 0),
}

export const resyncCrash: Scenario = {
  name: 'resync-crash',
  get description() {
    return `as desync-resync, with kill -9 of the ingestor at ${sizes().crashKills} seeded points (mid-snapshot among them): every snapshot part once, the model equal to the ground truth`
  },
  run: (ctx) => repoStateRun(ctx, sizes().crashKills),
}

async function repoStateRun(ctx: ScenarioContext, kills: number): Promise<ScenarioOutcome> {
  const fixture = await cachedGeneratedFixture({ events: EVENTS(), seed: FIXTURE_SEED, fromCreation: true })
  const frames = await readFixtureFrames(fixture)
  const events = frames.map((bytes) => decodeEvent(bytes) as SequencedEvent)
  const faults = plannedFaults(ctx, events)
  // With kills, a paced relay, so that the ingestor's lives fall across the run and its resyncs.
  const rate = kills > 0 ? { rate: { mode: 'rate' as const, eventsPerSec: 300 } } : {}
  return withRig(ctx, { fixture, replay: { faults, ...rate } }, async (rig) => {
    const args = ['--allow-private-hosts', '--plc-url', rig.replay.plcUrl, '--snapshot-part-records', String(PART_RECORDS), '--status-interval', '60']
    const killedAt: string[] = []
    for (let i = 0; i < kills && !(await finished(rig, events)); i++) {
      // Every point once where there are enough kills, mid-snapshot first (what this scenario is about).
      const points = ['mid-snapshot', ...CRASH_POINTS]
      const crashAt = `${points[i] ?? ctx.random.pick(points)}:${ctx.random.int(1, 3)}`
      const child = await rig.startIngestor({ crashAt, args, repoState: true })
      // A life that finishes the run before reaching its point is killed from outside.
      await waitUntil(async () => child.exit !== null || (await finished(rig, events)), { what: `a kill at ${crashAt} or the end of the run`, timeoutMs: 60_000, intervalMs: 100 })
      const exit = child.exit ?? (await child.kill9())
      killedAt.push(exit.signal === 'SIGKILL' && child.exit !== null ? crashAt : `${crashAt} (run finished first)`)
    }
    const final = await rig.startIngestor({ args, repoState: true })
    await waitUntil(() => finished(rig, events, final), { what: 'the last seq and every repo synchronized', timeoutMs: 180_000, intervalMs: 200 })
    // A SIGTERM before its signal handlers exist would just kill it.
    await final.waitForLog((record) => record.msg === 'relay connected', 30_000, 'the relay connection')
    const exit = await final.stop()
    // Each lost commit desyncs its repo, unless a restart fetched it again from the relay (a fault applies to the connection it fired on).
    const judged = await judge(rig, frames, fixture, kills === 0 ? LOSSES : 1)
    return { ...judged, maxRssMb: rig.maxRssMb, checks: [...judged.checks, check('gracefulExitCode', exit.code === 0, exit.code, '0 after SIGTERM')], details: { losses: LOSSES, kills: killedAt } }
  })
}

/**
 * Seeded commits lost upstream (of repos whose account is never deactivated, that committed
 * before and commit again, so the loss shows), and getRepo faults on the first of them.
 */
function plannedFaults(ctx: ScenarioContext, events: readonly SequencedEvent[]): FaultSpec[] {
  const everInactive = new Set(events.flatMap((event) => (event.type === 'account' && !event.active ? [event.did] : [])))
  const repoOf = (event: SequencedEvent): string | null => (event.type === 'commit' && !everInactive.has(event.repo) ? event.repo : null)
  const seen = new Map<string, number>()
  const remaining = new Map<string, number>()
  for (const event of events) {
    const did = repoOf(event)
    if (did !== null) remaining.set(did, (remaining.get(did) ?? 0) + 1)
  }
  const losable: { index: number; did: string }[] = []
  events.forEach((event, index) => {
    const did = repoOf(event)
    if (did === null) return
    remaining.set(did, remaining.get(did)! - 1)
    if ((seen.get(did) ?? 0) > 0 && remaining.get(did)! > 0) losable.push({ index, did })
    seen.set(did, (seen.get(did) ?? 0) + 1)
  })
  const lost = new Map<string, number>()
  for (let i = 0; i < LOSSES * 10 && lost.size < LOSSES; i++) {
    const pick = ctx.random.pick(losable)
    if (!lost.has(pick.did)) lost.set(pick.did, pick.index)
  }
  const [first, second, third] = [...lost.keys()]
  return [
    ...[...lost.values()].map((index): FaultSpec => ({ kind: 'swallow', atFrame: index, count: 1 })),
    { kind: 'get-repo-500', did: first!, count: 1 },
    { kind: 'get-repo-429', did: second!, count: 1, retryAfterSec: 1 },
    { kind: 'get-repo-slow', did: third!, count: 1, bytesPerSec: 8192 },
  ]
}

/** The cursor is at the fixture's last seq, no repo waits for a resync and no snapshot is open. */
async function finished(rig: Rig, events: readonly SequencedEvent[], running?: IngestorProcess): Promise<boolean> {
  if (running !== undefined && running.exit !== null) throw running.failure('exited before the run finished')
  if ((await rig.storedCursor()) !== events[events.length - 1]!.seq) return false
  const redis = await openRedisClient(rig.redis.url)
  try {
    return (await countAwaitingResync(redis, repoStateKeyOf(rig.stream))) === 0 && (await redis.hlen(snapshotProgressKeyOf(rig.stream))) === 0
  } finally {
    redis.disconnect()
  }
}

/** The stream check (`--repo-state` rules: duplicates, snapshots) and the oracle: the model AppView applying the stream equals the repos the frames leave. */
async function judge(rig: Rig, frames: readonly Uint8Array[], fixture: string, snapshots: number): Promise<{ stream: ScenarioOutcome['stream']; checks: ScenarioCheck[] }> {
  // Every frame expected: what the relay lost is withheld (a commit) or the repo's snapshot covers it.
  const stream = await checkStream({ redisUrl: rig.redis.url, stream: rig.stream, expected: await expectedEntriesFromFixture(fixture), repoState: true })
  const redis = await openRedisClient(rig.redis.url)
  let modelDiff: string[]
  try {
    const model = new ModelAppView()
    for (const [, fields] of await redis.xrange(rig.stream, '-', '+')) model.applyFields(fields)
    modelDiff = diffRepos(model.repos(), groundTruth(frames))
  } catch (err) {
    modelDiff = [`the model AppView refused the stream: ${(err as Error).message}`]
  } finally {
    redis.disconnect()
  }
  return {
    stream,
    checks: [
      check('modelEqualsGroundTruth', modelDiff.length === 0, modelDiff.slice(0, 5), 'no difference'),
      check('snapshotRules', stream.snapshots.violations.count === 0, stream.snapshots.violations.first.slice(0, 3), '0 violations'),
      check('snapshotsComplete', stream.snapshots.complete >= snapshots, stream.snapshots.complete, `>= ${snapshots}`),
    ],
  }
}

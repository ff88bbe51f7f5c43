import type { Redis } from 'ioredis'
import { repoStateKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { keyLayout } from '../../common/key-layout.js'
import { openRedisClient } from '../../common/redis-open.js'
import { BackfillStore, type BackfillCounts } from '../../backfill/backfill-store.js'
import { inactiveWaiting } from '../../backfill/run-backfill.js'
import { readFixtureFrames } from '../../fixture-file/index.js'
import { CRASH_POINTS } from '../../ingestor/crash-points.js'
import { sweepUnsynchronized } from '../../ingestor/repo-state-sweep.js'
import { decodeEvent, type SequencedEvent } from '../../protocol/events.js'
import { activeOnly, groundTruth, inactiveAtEnd } from '../../stream-check/ground-truth.js'
import { diffRepos, ModelAppView } from '../../stream-check/model-appview.js'
import { snapshotEntryOf } from '../../stream-check/snapshot-entries.js'
import { checkStream } from '../../stream-check/stream-checker.js'
import { BackfillProcess } from '../backfill-process.js'
import { cachedGeneratedFixture } from '../fixture-cache.js'
import { IngestorProcess } from '../ingestor-process.js'
import { waitUntil } from '../wait.js'
import { check } from './common.js'
import { sizes } from './profile.js'
import { withRig, type Rig } from './rig.js'
import type { Scenario, ScenarioCheck, ScenarioContext, ScenarioOutcome } from './types.js'

const FIXTURE_SEED = 1
const EVENTS_PER_ACCOUNT = 5
/** Small repos: the backfill's cost is the number of repos, not their size. */
const MEDIAN_RECORDS = 4
/** Records per snapshot part: small, so a repo's snapshot has parts for a mid-snapshot kill to fall between. */
const PART_RECORDS = 4
/** The history (before the ingestor joins) is published fast; the live part slowly, so that it goes on through the backfill. */
const HISTORY_RATE = { mode: 'rate', eventsPerSec: 5_000 } as const
const LIVE_RATE = { mode: 'rate', eventsPerSec: 100 } as const
/** The backfill lists 1,000 repos a page; past this many asked for and not done it waits (the full profile's listing has pages to kill it between). */
const MAX_OUTSTANDING = 200
/** Codes a backfilled repo may fail with, all saying its account is not active (run-backfill's failing, the replay's getRepo errors). */
const INACTIVE_CODES = /^REPO_SYNC_(DEACTIVATED|TAKENDOWN|SUSPENDED|NOT_FOUND)$/

export const backfillCrash: Scenario = {
  name: 'backfill-crash',
  get description() {
    const accounts = sizes().backfillAccounts
    return `firehose ingest (per-repo state) joins a from-creation replay of ${accounts} accounts at its live tail, then firehose backfill --all; ${sizes().backfillKills} seeded kill -9s of both (mid-snapshot among them), each restarted: every listed repo done once, the model AppView equal to the ground truth`
  },
  run: backfillCrashRun,
}

/** How one ingestor life ends: at its crash point (FIREHOSE_CRASH_AT), or a SIGKILL from outside once `afterDone` more repos are done. */
type IngestorKill = { kind: 'crash'; crashAt: string } | { kind: 'outside'; afterDone: number }

interface KillPlan {
  ingestor: IngestorKill[]
  /** The backfill's lives are SIGKILLed once the listing is stored and this many repos are done in all (0: as soon as it lists). */
  backfill: number[]
}

/** What the lives share: the rig, the backfill's keys, and what the fixture says. */
interface Run {
  rig: Rig
  redis: Redis
  store: BackfillStore
  ingestorArgs: string[]
  /** Accounts whose last #account says not active: getRepo refuses them, their history is neither backfilled nor compared. */
  inactiveAtEnd: ReadonlySet<string>
}

async function backfillCrashRun(ctx: ScenarioContext): Promise<ScenarioOutcome> {
  const accounts = sizes().backfillAccounts
  const fixture = await cachedGeneratedFixture({ events: accounts * EVENTS_PER_ACCOUNT, seed: FIXTURE_SEED, fromCreation: true, accounts, medianRecords: MEDIAN_RECORDS })
  const frames = await readFixtureFrames(fixture)
  const events = frames.map((bytes) => decodeEvent(bytes) as SequencedEvent)
  // The ingestor joins after 30-60 % of the frames: those are the history a new AppView lacks.
  const joinAt = Math.floor(events.length * (0.3 + 0.3 * ctx.random.next()))
  return withRig(ctx, { fixture, replay: { start: 'now', rate: HISTORY_RATE } }, async (rig) => {
    const redis = await openRedisClient(rig.redis.url)
    const backfills: BackfillProcess[] = []
    try {
      const run: Run = {
        rig,
        redis,
        store: new BackfillStore(redis, keyLayout(1, false), rig.stream),
        ingestorArgs: ['--allow-private-hosts', '--plc-url', rig.replay.plcUrl, '--snapshot-part-records', String(PART_RECORDS), '--status-interval', '60'],
        inactiveAtEnd: inactiveAtEnd(frames),
      }
      const plan = killPlan(ctx, sizes().backfillKills, reposBefore(events, joinAt))
      const first = await joinLiveTail(run, events, joinAt, crashAtOf(plan.ingestor[0]))
      const lives = await killDuringBackfill(run, plan, first.ingestor, backfills)
      rig.replay.setRate({ mode: 'max' })
      const lastSeq = events[events.length - 1]!.seq
      await waitUntil(() => settled(run, lives.ingestor, lastSeq), { what: `cursor ${lastSeq}, every listed repo done or inactive, every active repo synchronized`, timeoutMs: 180_000, intervalMs: 200 })
      // A SIGTERM before its signal handlers exist would just kill it.
      await lives.ingestor.waitForLog((record) => record.msg === 'relay connected', 30_000, 'the relay connection')
      const exit = await lives.ingestor.stop()
      const judged = await judge(run, frames, events[first.joinIndex]!.seq, reposBefore(events, first.joinIndex))
      const backfillExit = lives.backfill.exit!
      const summary = lives.backfill.summary()
      return {
        stream: judged.stream,
        maxRssMb: rig.maxRssMb,
        checks: [
          ...judged.checks,
          check('backfillExit', backfillExit.code === 0 || (backfillExit.code === 1 && (summary?.failing ?? 0) > 0), { exit: backfillExit, failing: summary?.failing }, 'code 0, or 1 with repos failing'),
          check('gracefulExitCode', exit.code === 0, exit.code, '0 after SIGTERM'),
        ],
        details: { joinedAtFrame: first.joinIndex, frames: events.length, ...judged.details, kills: lives.kills, ingestorLives: rig.ingestors.length, backfillLives: backfills.length },
      }
    } finally {
      for (const backfill of backfills) await backfill.kill9()
      redis.disconnect()
    }
  })
}

/**
 * Seeded kills, spread over the `history` repos the backfill will list. Of the ingestor: at
 * mid-snapshot first (what this scenario is about), then from outside, then at any crash point or
 * from outside, each life lasting up to its share of the repos (a snapshot has a few parts); of
 * the backfill, at least one, each once a seeded number of repos is done in all.
 */
function killPlan(ctx: ScenarioContext, kills: number, history: number): KillPlan {
  const backfillKills = Math.max(1, Math.round(kills / 3))
  const ingestorKills = Math.max(1, kills - backfillKills)
  const share = Math.max(1, Math.floor(history / (ingestorKills + 1)))
  const ingestor: IngestorKill[] = []
  for (let i = 0; i < ingestorKills; i++) {
    const kind = i === 0 ? 'mid-snapshot' : i === 1 ? 'outside' : ctx.random.pick(['outside', 'mid-snapshot', ...CRASH_POINTS])
    if (kind === 'outside') ingestor.push({ kind, afterDone: ctx.random.int(1, share) })
    else ingestor.push({ kind: 'crash', crashAt: `${kind}:${kind === 'mid-snapshot' ? ctx.random.int(1, 2 * share) : ctx.random.int(1, 3)}` })
  }
  return { ingestor, backfill: Array.from({ length: backfillKills }, () => ctx.random.int(0, history)).sort((x, y) => x - y) }
}

function crashAtOf(kill: IngestorKill | undefined): string | null {
  return kill?.kind === 'crash' ? kill.crashAt : null
}

function describeKill(kill: IngestorKill): string {
  return kill.kind === 'crash' ? `ingestor at ${kill.crashAt}` : `ingestor from outside after ${kill.afterDone} repos done`
}

/**
 * The first ingestor joins at frame `joinAt`, as a new AppView joining the live stream there: it
 * asks for the frames after the one before it (its cursor; a new AppView's is the live tail), so
 * where it joins does not depend on how soon this process sees the relay reach `joinAt` (on a
 * loaded machine the relay had published everything first). The relay is paused meanwhile and
 * then plays the rest live. Returns once it has stored a cursor, so every restart resumes from one.
 */
async function joinLiveTail(run: Run, events: readonly SequencedEvent[], joinAt: number, crashAt: string | null): Promise<{ ingestor: IngestorProcess; joinIndex: number }> {
  const { rig } = run
  await waitUntil(() => rig.replay.status().framesPublished >= joinAt, { what: `frame ${joinAt} published`, timeoutMs: 60_000, intervalMs: 5 })
  rig.replay.pause()
  const joinIndex = joinAt
  const args = [...run.ingestorArgs, '--cursor', String(events[joinAt - 1]!.seq)]
  const ingestor = IngestorProcess.start({ relayUrl: rig.ingestorRelayUrl, redisUrl: rig.ingestorRedisUrl, stream: rig.stream, cursorKey: rig.cursorKey, repoState: true, crashAt, args })
  rig.ingestors.push(ingestor)
  const alive = (): void => {
    if (ingestor.exit !== null) throw ingestor.failure('exited before it stored a cursor')
  }
  await waitUntil(() => (alive(), rig.replay.status().clients.some((client) => client.connected)), { what: 'the first ingestor subscribed', timeoutMs: 30_000, intervalMs: 20 })
  rig.replay.setRate(LIVE_RATE)
  rig.replay.resume()
  await waitUntil(async () => (alive(), (await rig.storedCursor()) !== null), { what: 'the first ingestor stored a cursor', timeoutMs: 60_000, intervalMs: 20 }).catch((err: unknown) => {
    // What the relay and the ingestor were doing, for a human to read (it has happened only on a loaded CI machine).
    const { paused, finished, framesPublished, clients } = rig.replay.status()
    const relay = { paused, finished, framesPublished, clients: clients.map(({ connected, framesSent, lastSeqSent }) => ({ connected, framesSent, lastSeqSent })) }
    throw ingestor.failure(`${(err as Error).message}; relay ${JSON.stringify(relay)}`)
  })
  return { ingestor, joinIndex }
}

/**
 * Runs `firehose backfill --all` and the kill plan on both processes until the backfill ends by
 * itself (every repo asked for done, failing or inactive): each killed ingestor is restarted
 * from its stored cursor with the next life's crash point, each killed backfill with the same
 * command (it resumes from the listing stored in Redis). A kill the backfill's end came before
 * is reported as such. Returns the last lives: the ingestor running (no crash point), the backfill ended.
 */
async function killDuringBackfill(run: Run, plan: KillPlan, first: IngestorProcess, backfills: BackfillProcess[]): Promise<{ ingestor: IngestorProcess; backfill: BackfillProcess; kills: string[] }> {
  const { rig, store } = run
  const startBackfill = (): BackfillProcess => {
    const backfill = BackfillProcess.start({ redisUrl: rig.redis.url, stream: rig.stream, listFrom: rig.replay.httpUrl, args: ['--poll', '0.1', '--max-outstanding', String(MAX_OUTSTANDING)] })
    backfills.push(backfill)
    return backfill
  }
  const kills: string[] = []
  let ingestor = { process: first, kill: 0, doneAtStart: 0 }
  let backfill = { process: startBackfill(), kill: 0 }
  const nextIngestor = async (kill: number, done: number): Promise<void> => {
    const child = await rig.startIngestor({ crashAt: crashAtOf(plan.ingestor[kill]), args: run.ingestorArgs, repoState: true })
    ingestor = { process: child, kill, doneAtStart: done }
  }
  const backfillOver = (): boolean => {
    const exit = backfill.process.exit
    if (exit === null) return false
    if (exit.signal !== null || (exit.code !== 0 && exit.code !== 1)) throw backfill.process.failure('ended other than by its end')
    return true
  }
  const step = async (): Promise<boolean> => {
    const [counts, listing] = [await store.counts(), await store.readListing()]
    const over = backfillOver()
    const planned = plan.ingestor[ingestor.kill]
    if (planned !== undefined) {
      const exit = ingestor.process.exit
      if (exit !== null && exit.signal !== 'SIGKILL') throw ingestor.process.failure('ended other than by a SIGKILL')
      const due = planned.kind === 'outside' && counts.done >= ingestor.doneAtStart + planned.afterDone
      if (exit !== null || due || over) {
        await ingestor.process.kill9()
        kills.push(exit === null && !due ? `${describeKill(planned)}: the backfill ended first` : describeKill(planned))
        // Once the backfill has ended, the last life (no crash point) follows at once.
        const next = over ? plan.ingestor.length : ingestor.kill + 1
        for (const left of plan.ingestor.slice(ingestor.kill + 1, next)) kills.push(`${describeKill(left)}: the backfill ended first`)
        await nextIngestor(next, counts.done)
      }
    } else if (ingestor.process.exit !== null) {
      throw ingestor.process.failure('exited without a crash point')
    }
    if (over) {
      for (const left of plan.backfill.slice(backfill.kill)) kills.push(`backfill at ${left} repos done: the backfill ended first`)
      return true
    }
    const atDone = plan.backfill[backfill.kill]
    if (atDone !== undefined && listing !== null && counts.done >= atDone) {
      await backfill.process.kill9()
      kills.push(`backfill at ${counts.done} repos done (listing ${listing.complete ? 'complete' : `at page ${listing.pages}`})`)
      backfill = { process: startBackfill(), kill: backfill.kill + 1 }
    }
    return false
  }
  await waitUntil(step, { what: 'the backfill to end, with its kills', timeoutMs: 300_000, intervalMs: 25 })
  return { ingestor: ingestor.process, backfill: backfill.process, kills }
}

/** Every frame written, every listed repo done or inactive at the end (failing or waiting), no active repo awaiting a resync, no snapshot open. */
async function settled(run: Run, ingestor: IngestorProcess, lastSeq: number): Promise<boolean> {
  if (ingestor.exit !== null) throw ingestor.failure('exited before the end')
  if ((await run.rig.storedCursor()) !== lastSeq) return false
  const { counts, notInactive } = await backfillLeft(run)
  if (counts.done + counts.failing + inactiveWaiting(counts) !== counts.listed || notInactive.length > 0) return false
  let awaiting = 0
  await sweepUnsynchronized(
    run.redis,
    [repoStateKeyOf(run.rig.stream)],
    async (did) => {
      if (!run.inactiveAtEnd.has(did)) awaiting++
    },
    () => false,
  )
  return awaiting === 0 && (await openSnapshots(run.redis, snapshotProgressKeyOf(run.rig.stream))) === 0
}

/** The backfill's counts, and the repos left failing or waiting as inactive whose account is active at the end (none is right). */
async function backfillLeft(run: Run): Promise<{ counts: BackfillCounts; notInactive: string[]; badCodes: string[] }> {
  const counts = await run.store.counts()
  const failing = await run.store.failing(counts.listed)
  const waiting = await run.store.inactive(counts.listed)
  const notInactive = [...failing.repos, ...waiting.repos].flatMap(({ did }) => (run.inactiveAtEnd.has(did) ? [] : [did]))
  const badCodes = failing.repos.flatMap((repo) => (INACTIVE_CODES.test(repo.code) ? [] : [`${repo.did} ${repo.code}`]))
  return { counts, notInactive, badCodes }
}

/** Snapshots begun and not ended: a snapshot's progress field is its DID, alone (markers, counters and held events have a `#`). */
async function openSnapshots(redis: Redis, key: string): Promise<number> {
  let open = 0
  let cursor = '0'
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 1000)
    for (let i = 0; i < flat.length; i += 2) if (flat[i]!.startsWith('did:') && !flat[i]!.includes('#')) open++
    cursor = next
  } while (cursor !== '0')
  return open
}

/**
 * The stream from the join on (per-repo state rules: commits withheld, snapshots), the oracle (the
 * model AppView fed every entry, refusing anything applied twice, equal to the ground truth for
 * the accounts active at the end), no repo with two complete snapshots at one rev, and the backfill's own account.
 */
async function judge(run: Run, frames: readonly Uint8Array[], joinSeq: number, history: number): Promise<{ stream: ScenarioOutcome['stream']; checks: ScenarioCheck[]; details: Record<string, unknown> }> {
  const { rig, redis } = run
  const expected = (await rig.expected()).filter((entry) => entry.seq >= joinSeq)
  const stream = await checkStream({ redisUrl: rig.redis.url, stream: rig.stream, expected, repoState: true })
  const model = new ModelAppView()
  const completeAt = new Map<string, number>()
  let refused: string | null = null
  for (const [, fields] of await redis.xrange(rig.stream, '-', '+')) {
    const snapshot = snapshotEntryOf(fields)
    if (snapshot?.kind === 'snapshot' && snapshot.data.phase === 'end' && snapshot.data.complete) {
      const key = `${snapshot.data.did} at ${snapshot.data.rev}`
      completeAt.set(key, (completeAt.get(key) ?? 0) + 1)
    }
    try {
      if (refused === null) model.applyFields(fields)
    } catch (err) {
      refused = (err as Error).message
    }
  }
  const modelDiff = refused !== null ? [`the model AppView refused the stream: ${refused}`] : diffRepos(activeOnly(model.repos(), run.inactiveAtEnd), activeOnly(groundTruth(frames), run.inactiveAtEnd))
  const twice = [...completeAt].flatMap(([key, count]) => (count > 1 ? [`${key}: ${count}`] : []))
  const { counts, notInactive, badCodes } = await backfillLeft(run)
  const listing = await run.store.readListing()
  return {
    stream,
    checks: [
      check('modelEqualsGroundTruth', modelDiff.length === 0, modelDiff.slice(0, 5), 'no difference (accounts active at the end)'),
      check('oneCompleteSnapshotPerRev', twice.length === 0, twice.slice(0, 5), 'no repo with two complete snapshots at the same rev'),
      check('snapshotRules', stream.snapshots.violations.count === 0 && stream.snapshots.open === 0, { violations: stream.snapshots.violations.first.slice(0, 3), open: stream.snapshots.open }, '0 violations, 0 open'),
      check(
        'listingComplete',
        listing?.complete === true && counts.listed >= history,
        { complete: listing?.complete, listed: counts.listed, history },
        `complete, every one of the ${history} repos of the history listed`,
      ),
      check('everyListedRepoDone', counts.done + counts.failing + inactiveWaiting(counts) === counts.listed, counts, 'done + failing + inactive waiting == listed'),
      check(
        'failingOrWaitingOnlyInactive',
        notInactive.length === 0 && badCodes.length === 0,
        { notInactive: notInactive.slice(0, 5), badCodes: badCodes.slice(0, 5) },
        'only accounts inactive at the end, refused for their status',
      ),
    ],
    details: {
      listed: counts.listed,
      done: counts.done,
      failing: counts.failing,
      inactiveWaiting: inactiveWaiting(counts),
      pages: listing?.pages,
      snapshots: { complete: stream.snapshots.complete, abandoned: stream.snapshots.abandoned },
      withheld: stream.withheld.commits.length + stream.withheld.syncs.length,
    },
  }
}

/** Repos with a commit among the first `count` frames: the history every one of which the listing must ask for. */
function reposBefore(events: readonly SequencedEvent[], count: number): number {
  return new Set(events.slice(0, count).flatMap((event) => (event.type === 'commit' ? [event.repo] : []))).size
}

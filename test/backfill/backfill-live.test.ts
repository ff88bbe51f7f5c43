import { beforeAll, describe, expect, it } from 'vitest'
import { keyLayout, shardStream } from '../../common/key-layout.js'
import type { FaultSpec } from '../../replay/index.js'
import { SeededRandom } from '../../common/random.js'
import { sizes } from '../../harness/scenarios/profile.js'
import { BackfillStore } from '../../backfill/backfill-store.js'
import { waitUntil } from '../../harness/wait.js'
import { decodeEvent } from '../../protocol/events.js'
import { activeOnly, groundTruth, inactiveAtEnd } from '../../stream-check/ground-truth.js'
import { diffRepos, ModelAppView } from '../../stream-check/model-appview.js'
import { generatedForSuite } from '../generator/helpers.js'
import { ownRedisForSuite, readStream, replay } from '../ingestor/helpers.js'
import { startRepoStateIngestor } from '../ingestor/repo-state-rig.js'
import { inactiveWaiting } from '../../backfill/run-backfill.js'
import { backfillRun } from './backfill-rig.js'

/**
 * Backfill beside a live ingest (docs/backfill.md): a replay relay publishes a generated network of
 * 1,000 accounts (300 in the ci profile) from their creation; the ingestor joins at its live tail part-way (what came before is
 * the history a new AppView lacks), then the backfill lists every repo from the replay's listRepos
 * and the ingestor publishes each as a repo snapshot while the relay goes on. The model AppView
 * read from the stream must equal the ground truth of every frame, whatever the interleaving
 * (seeded join points), with each listed repo done exactly once.
 */
const SEED = 1919
/** The issue's 1,000 accounts in the full profile; 300 in the ci profile (npm test), the same rules at a third of the time. */
const ACCOUNTS = sizes().profile === 'full' ? 1_000 : 300
const own = ownRedisForSuite()
const fixture = generatedForSuite(`backfill-${ACCOUNTS}.fixture.gz`, { events: ACCOUNTS * 4, accounts: ACCOUNTS, medianRecords: 4, seed: SEED, workers: 0, fromCreation: true })
/** Each stage's deadline is below the test's timeout, so a slow run fails naming its stage rather than as vitest's bare timeout. */
const TEST_TIMEOUT_MS = 420_000

/** Accounts whose last #account says not active: getRepo refuses them, so their history cannot be backfilled (or shown). */
let inactive: ReadonlySet<string> = new Set()
beforeAll(() => {
  inactive = inactiveAtEnd(fixture.frames)
})

function lastSeq(): number {
  const frames = fixture.frames
  const last = decodeEvent(frames[frames.length - 1]!)
  return 'seq' in last && typeof last.seq === 'number' ? last.seq : Number.NaN
}

interface Variant {
  /** getRepo faults of the replay (docs/replay.md), armed from the start. */
  faults?: FaultSpec[]
  shards?: number
}

/** The ingestor joins at the live tail after a seeded share of the frames, then `backfill --all`; the model of every shard stream against the truth. */
async function joinThenBackfill(seed: number, variant: Variant = {}): Promise<number> {
  const shards = variant.shards ?? 1
  const random = new SeededRandom(seed)
  // The ingestor joins after 30-60 % of the frames: those are history it never sees live.
  const joinAt = Math.floor(fixture.frames.length * (0.3 + 0.3 * random.next()))
  const relay = await replay([fixture.generated.path], { start: 'now', seed, rate: { mode: 'rate', eventsPerSec: 2_000 }, faults: variant.faults ?? [] })
  const what = `seed ${seed}${shards > 1 ? `, ${shards} shards` : ''}${variant.faults ? ', getRepo faults' : ''}`
  let run: Awaited<ReturnType<typeof startRepoStateIngestor>> | null = null
  const store = (): BackfillStore => new BackfillStore(own.admin, keyLayout(shards, false), run!.keys.stream)
  try {
    await waitUntil(() => relay.status().framesPublished >= joinAt, { what: `frame ${joinAt} published (${what})`, timeoutMs: 30_000 })
    relay.setRate({ mode: 'rate', eventsPerSec: 300 })
    // Joining at the frame before `joinAt` by cursor, not at the live tail: on a loaded machine the relay may have published everything before this line runs.
    const joinCursor = (decodeEvent(fixture.frames[joinAt - 1]!) as { seq: number }).seq
    run = await startRepoStateIngestor(own.redis.url, relay, { startCursor: joinCursor, shards, backfillPollMs: { markers: 50, inactive: 200 } })
    const ingestor = run.handle
    await waitUntil(() => ingestor.status().counters.framesReceived > 0, { what: `the ingestor's first live frame (${what})`, timeoutMs: 30_000 })
    // Generous: the ingestor fetches at most 2 repos at a time from one host (the replay), and a loaded 2-core machine runs ~10x slower than a quiet one.
    const listingDeadline = performance.now() + 180_000
    const final = await backfillRun(own.admin, run.keys.stream, { kind: 'all' }, new URL(relay.httpUrl), { shards, stopped: () => performance.now() > listingDeadline })
    // What the ingestor was doing, should the listing's repos not all be done by the deadline.
    const stalled = (): string => `${what}: ${JSON.stringify({ repoSync: ingestor.status().repoSync, counters: ingestor.status().counters, relay: relay.status() })}`
    expect(final, `${what}: the listing and its repos within 180 s`).toMatchObject({ listingComplete: true })
    expect(final.done + final.failing + inactiveWaiting(final), stalled()).toBe(final.listed)
    expect(final.listed, what).toBeGreaterThan(ACCOUNTS / 10)
    relay.setRate({ mode: 'max' })
    // Every frame written, each listed repo done, or failing or waiting only for an account inactive at the end.
    await waitUntil(() => (ingestor.status().storedCursor ?? -1) >= lastSeq(), { what: `cursor ${lastSeq()} (${what})`, timeoutMs: 60_000 })
    let left: unknown = null
    await waitUntil(
      async () => {
        const [counts, failing, waiting] = [await store().counts(), await store().failing(1_000), await store().inactive(1_000)]
        left = { counts, failing: failing.repos.filter((repo) => !inactive.has(repo.did)), waiting: waiting.repos.filter((repo) => !inactive.has(repo.did)) }
        return counts.done + counts.failing + inactiveWaiting(counts) === counts.listed && [...failing.repos, ...waiting.repos].every((repo) => inactive.has(repo.did))
      },
      { what: `every listed repo of an active account done (${what})`, timeoutMs: 90_000 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; left: ${JSON.stringify(left)}`)
    })
    expect(ingestor.status().counters.backfillReposDone, what).toBe((await store().counts()).done)
  } finally {
    await run?.handle.stop()
    await relay.close()
  }
  const counts = await store().counts()
  // A repo whose account was deactivated or deleted after the listing stays failing, with getRepo's reason.
  const failing = await store().failing(1_000)
  expect(failing.total, what).toBe(counts.failing)
  for (const repo of failing.repos) {
    expect(inactive.has(repo.did), `${what}: ${repo.did} failing (${repo.code}) though active at the end`).toBe(true)
    expect(repo.code, what).toMatch(/^REPO_SYNC_(DEACTIVATED|TAKENDOWN|SUSPENDED|NOT_FOUND)$/)
  }
  expect(counts.done + counts.failing + inactiveWaiting(counts), what).toBe(counts.listed)
  const model = new ModelAppView()
  for (let shard = 0; shard < shards; shard++) for (const fields of await readStream(own.redis.url, shardStream(keyLayout(shards, false), run.keys.stream, shard))) model.applyFields(fields)
  expect(diffRepos(activeOnly(model.repos(), inactive), activeOnly(groundTruth(fixture.frames), inactive)), `${what}: joined at frame ${joinAt}`).toEqual([])
  return run.handle.status().counters.resyncsFailed
}

describe('a new AppView joins the live stream part-way, then backfills every repo: the model equals the ground truth', () => {
  for (const seed of (process.env.BACKFILL_SEEDS ?? '1').split(',').map(Number)) it(`seed ${seed}`, async () => void (await joinThenBackfill(seed)), TEST_TIMEOUT_MS)
})

describe('with --shards, each repo is asked for and published in its shard', () => {
  it('seed 3, 3 shards', async () => void (await joinThenBackfill(3, { shards: 3 })), TEST_TIMEOUT_MS)
})

describe('getRepo fails (500, 429, a truncated CAR, a corrupt block): each failing repo is recorded with its reason, retried after its backoff, and ends done', () => {
  it(
    'seed 4: one repo of the history per fault',
    async () => {
      // Repos created in the first fifth of the frames (history, so listed) whose account is active at the end, one per fault kind.
      const early = [
        ...new Set(
          fixture.frames.slice(0, Math.floor(fixture.frames.length / 5)).flatMap((bytes) => {
            const event = decodeEvent(bytes)
            return event.type === 'commit' && !inactive.has(event.repo) ? [event.repo] : []
          }),
        ),
      ]
      const random = new SeededRandom(4)
      const kinds = ['get-repo-500', 'get-repo-429', 'get-repo-truncate', 'get-repo-corrupt'] as const
      const faults: FaultSpec[] = kinds.map((kind, i) => ({ kind, count: 1, did: early.splice(random.int(0, early.length - 1), 1)[0]!, ...(i === 1 ? { retryAfterSec: 1 } : {}) }))
      const failed = await joinThenBackfill(4, { faults })
      expect(failed, 'each faulted fetch failed, then its repo was fetched again').toBeGreaterThanOrEqual(4)
    },
    TEST_TIMEOUT_MS,
  )
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyLayout } from '../../common/key-layout.js'
import { SeededRandom } from '../../common/random.js'
import { BackfillStore } from '../../backfill/backfill-store.js'
import { waitUntil } from '../../harness/wait.js'
import { decodeEvent } from '../../protocol/events.js'
import { groundTruth } from '../../stream-check/ground-truth.js'
import { diffRepos, type Repos } from '../../stream-check/model-appview.js'
import { generate, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { ownRedisForSuite, replay } from '../ingestor/helpers.js'
import { modelOf, startRepoStateIngestor } from '../ingestor/repo-state-rig.js'
import { inactiveWaiting } from '../../backfill/run-backfill.js'
import { backfillRun } from './backfill-rig.js'

/**
 * Backfill beside a live ingest (docs/backfill.md): a replay relay publishes a generated network of
 * 1,000 accounts from their creation; the ingestor joins at its live tail part-way (what came before is
 * the history a new AppView lacks), then the backfill lists every repo from the replay's listRepos
 * and the ingestor publishes each as a repo snapshot while the relay goes on. The model AppView
 * read from the stream must equal the ground truth of every frame, whatever the interleaving
 * (seeded join points), with each listed repo done exactly once.
 */
const SEED = 1919
const own = ownRedisForSuite()
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated
let frames: Uint8Array[]

beforeAll(async () => {
  tmp = await generatorTempDir()
  generated = await generate(tmp.dir, 'backfill.fixture.gz', { events: 4_000, accounts: 1_000, medianRecords: 4, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
}, 120_000)
afterAll(async () => {
  await tmp?.cleanup()
})

/** Accounts whose last #account says not active: getRepo refuses them, so their history cannot be backfilled (or shown). */
const inactive = new Set<string>()
beforeAll(() => {
  for (const bytes of frames) {
    const event = decodeEvent(bytes)
    if (event.type !== 'account') continue
    if (event.active) inactive.delete(event.did)
    else inactive.add(event.did)
  }
})

function activeOnly(repos: Repos): Repos {
  return new Map([...repos].filter(([did]) => !inactive.has(did)))
}

const store = (run: { keys: { stream: string } }): BackfillStore => new BackfillStore(own.admin, keyLayout(1, false), run.keys.stream)

function lastSeq(): number {
  const last = decodeEvent(frames[frames.length - 1]!)
  return 'seq' in last && typeof last.seq === 'number' ? last.seq : Number.NaN
}

describe('a new AppView joins the live stream part-way, then backfills every repo: the model equals the ground truth', () => {
  for (const seed of (process.env.BACKFILL_SEEDS ?? '1,2').split(',').map(Number)) {
    it(`seed ${seed}`, async () => {
      const random = new SeededRandom(seed)
      // The ingestor joins after 30-60 % of the frames: those are history it never sees live.
      const joinAt = Math.floor(frames.length * (0.3 + 0.3 * random.next()))
      const relay = await replay([generated.path], { start: 'now', seed, rate: { mode: 'rate', eventsPerSec: 2_000 } })
      let run: Awaited<ReturnType<typeof startRepoStateIngestor>> | null = null
      try {
        await waitUntil(() => relay.status().framesPublished >= joinAt, { what: `frame ${joinAt} published (seed ${seed})`, timeoutMs: 30_000 })
        relay.setRate({ mode: 'rate', eventsPerSec: 300 })
        run = await startRepoStateIngestor(own.redis.url, relay, { startCursor: null, backfillPollMs: { markers: 50, inactive: 200 } })
        const ingestor = run.handle
        await waitUntil(() => ingestor.status().counters.framesReceived > 0, { what: `the ingestor's first live frame (seed ${seed})`, timeoutMs: 30_000 })
        const final = await backfillRun(own.admin, run.keys.stream, { kind: 'all' }, new URL(relay.httpUrl))
        expect(final, `seed ${seed}`).toMatchObject({ listingComplete: true })
        expect(final.done + final.failing + inactiveWaiting(final), `seed ${seed}`).toBe(final.listed)
        expect(final.listed, `seed ${seed}`).toBeGreaterThan(100)
        relay.setRate({ mode: 'max' })
        // Every frame written, every repo of an active account synchronized, each listed repo done or failing for its account's status.
        await waitUntil(() => (ingestor.status().storedCursor ?? -1) >= lastSeq(), { what: `cursor ${lastSeq()} (seed ${seed})`, timeoutMs: 60_000 })
        await waitUntil(
          async () => {
            const [counts, failing, waiting] = [await store(run!).counts(), await store(run!).failing(1_000), await store(run!).inactive(1_000)]
            return counts.done + counts.failing + inactiveWaiting(counts) === counts.listed && [...failing.repos, ...waiting.repos].every((repo) => inactive.has(repo.did))
          },
          { what: `every listed repo of an active account done (seed ${seed})`, timeoutMs: 60_000 },
        )
        expect(ingestor.status().counters.backfillReposDone, `seed ${seed}`).toBe((await store(run).counts()).done)
      } finally {
        await run?.handle.stop()
        await relay.close()
      }
      const counts = await store(run).counts()
      // A repo whose account was deactivated or deleted after the listing stays failing, with getRepo's reason.
      const failing = await store(run).failing(1_000)
      expect(failing.total, `seed ${seed}`).toBe(counts.failing)
      for (const repo of failing.repos) {
        expect(inactive.has(repo.did), `seed ${seed}: ${repo.did} failing (${repo.code}) though active at the end`).toBe(true)
        expect(repo.code, `seed ${seed}`).toMatch(/^REPO_SYNC_(DEACTIVATED|TAKENDOWN|SUSPENDED|NOT_FOUND)$/)
      }
      expect(counts.done + counts.failing + inactiveWaiting(counts), `seed ${seed}`).toBe(counts.listed)
      expect(diffRepos(activeOnly((await modelOf(own.redis.url, run.keys.stream)).repos()), activeOnly(groundTruth(frames))), `seed ${seed}: joined at frame ${joinAt}`).toEqual([])
    }, 120_000)
  }
})

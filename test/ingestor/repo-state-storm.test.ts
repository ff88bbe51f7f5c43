import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sizes } from '../../harness/scenarios/profile.js'
import { decodeEvent } from '../../protocol/events.js'
import type { FaultSpec } from '../../replay/index.js'
import { generate, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { generatedSigningKeys } from '../support/generated-keys.js'
import { groundTruth } from '../../stream-check/ground-truth.js'
import { ownRedisForSuite, replay } from './helpers.js'
import { modelDiff, servedTruth, settle, startRepoStateIngestor } from './repo-state-rig.js'

/**
 * sync-storm against `--repo-state`: a #sync to new data for many repos at once (each reset at the
 * replay's PDS), so every one of them must be resynced from the one PDS they share. The fetcher's
 * limits hold at the PDS (getRepo requests in flight counted by the replay), and every repo ends
 * synchronized and equal to what getRepo serves.
 */
const SEED = 1822
const REPOS = sizes().profile === 'full' ? 1000 : 200
const own = ownRedisForSuite()
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated
let frames: Uint8Array[]

beforeAll(async () => {
  tmp = await generatorTempDir()
  // About 1.2 repos created per account and 7.5 events per repo (measured): comfortably more than REPOS repos.
  generated = await generate(tmp.dir, 'repo-state-storm.fixture.gz', { events: REPOS * 8, accounts: Math.ceil(REPOS * 1.4), medianRecords: 3, seed: SEED, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
}, 120_000)
afterAll(async () => tmp?.cleanup())

describe('a #sync storm: the resyncs of every repo stay within the fetch limits at the PDS (2 per host) and every repo ends synchronized and right', () => {
  it(`${REPOS} repos reset at once, --resync-concurrency 4 (seed ${SEED})`, async () => {
    const at = frames.length - 20
    const faults: FaultSpec[] = [
      { kind: 'sync-storm', atFrame: at, count: REPOS },
      // The first getRepo answers take a few hundred ms (small repos are served in well under one): the resyncs overlap at the PDS.
      { kind: 'get-repo-slow', atFrame: at, count: 20, bytesPerSec: 8192 },
    ]
    const relay = await replay([generated.path], { start: 'first-client', seed: SEED, faults, signingKeys: generatedSigningKeys(generated.manifest) })
    const run = await startRepoStateIngestor(own.redis.url, relay, { resyncConcurrency: 4 })
    try {
      const last = decodeEvent(frames.at(-1)!) as { seq: number }
      await settle(run, relay, own.admin, last.seq, REPOS, `sync-storm of ${REPOS} repos at frame ${at}`)
      const { counters } = run.handle.status()
      const { repoResets, getRepo } = relay.status()
      expect(repoResets).toHaveLength(REPOS)
      const changed = repoResets.filter((reset) => reset.removed > 0).length
      // Each reset that removed records is a #sync to new data (a repo without records gets a rev-only one); the fixture's own #sync frames add their verdicts.
      expect(counters.repoSyncResyncs).toBeGreaterThanOrEqual(changed)
      expect(counters.resyncsFailed).toBe(0)
      expect(counters.resyncsSucceeded).toBe(counters.resyncsStarted)
      expect(counters.resyncsSucceeded).toBeGreaterThanOrEqual(changed)
      // Four resyncs at once, but at most two requests to one host: the limit is reached and never passed.
      expect(getRepo.maxInFlight, `${JSON.stringify(getRepo)} (seed ${SEED})`).toBe(2)
      expect(getRepo.requests).toBeGreaterThanOrEqual(changed)
      await run.handle.stop()
      const expected = await servedTruth(
        relay,
        groundTruth(frames),
        repoResets.map((reset) => reset.did),
        frames,
        generated.didDocs,
      )
      expect(await modelDiff(own.redis.url, run.keys.stream, expected)).toEqual([])
    } finally {
      await run.handle.stop()
      await relay.close()
    }
  }, 180_000)
})

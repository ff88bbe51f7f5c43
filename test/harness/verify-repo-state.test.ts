import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { waitUntil } from '../../harness/wait.js'
import { decodeEvent } from '../../protocol/events.js'
import { seqsLostToFaults } from '../../stream-check/replay-faults.js'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { generate, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { ownRedisForSuite } from '../ingestor/helpers.js'
import { slowResyncRelay, startRepoStateIngestor } from '../ingestor/repo-state-rig.js'
import { runCli } from '../support/cli.js'

/**
 * The checker on a stream the real ingestor wrote with `--repo-state` (the pattern of
 * test/ingestor/repo-state.test.ts): a relay that swallows a commit, so its repo desynchronizes
 * and resyncs from a slow getRepo while the relay goes on; the repo's commits meanwhile are held
 * and published after the snapshot. verify must call that stream right, and only with --repo-state.
 */
const own = ownRedisForSuite()
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated

beforeAll(async () => {
  tmp = await generatorTempDir()
  generated = await generate(tmp.dir, 'verify-repo-state.fixture.gz', { events: 600, accounts: 15, medianRecords: 6, seed: 1818, workers: 0, fromCreation: true })
}, 60_000)
afterAll(async () => {
  await tmp?.cleanup()
})

/** A commit in the first third whose repo committed before and commits at least 6 times after it: losing it desynchronizes the repo while the relay goes on. */
function losableCommit(seed: number): { index: number; did: string } {
  const repos = generated.frames.map(({ bytes }) => {
    const event = decodeEvent(bytes)
    return event.type === 'commit' ? event.repo : null
  })
  const candidates = repos.flatMap((did, i) => (did !== null && i < repos.length / 3 && repos.slice(0, i).includes(did) && repos.slice(i + 1).filter((later) => later === did).length >= 6 ? [{ index: i, did }] : []))
  return new SeededRandom(seed).pick(candidates)
}

describe('a stream written with --repo-state checks clean with repoState: snapshots complete, #syncs and dropped commits withheld, held commits late', () => {
  for (const seed of [3]) {
    it(`seed ${seed}`, async () => {
      const lost = losableCommit(seed)
      const relay = await slowResyncRelay(generated.path, seed, lost, 4096)
      try {
        const expected = await expectedEntriesFromFixture(generated.path)
        const lastSeq = expected[expected.length - 1]!.seq
        const { handle, keys } = await startRepoStateIngestor(own.redis.url, relay)
        let counters
        try {
          await waitUntil(() => (handle.status().storedCursor ?? -1) >= lastSeq && handle.status().counters.resyncsSucceeded >= 1, { what: `cursor ${lastSeq} and a resync (seed ${seed})`, timeoutMs: 30_000 })
          counters = handle.status().counters
        } finally {
          await handle.stop()
        }
        const skipSeqs = seqsLostToFaults(relay.status())
        const notLost = expected.filter((entry) => !skipSeqs.has(entry.seq))
        const result = await checkStream({ redisUrl: own.redis.url, stream: keys.stream, expected: notLost, repoState: true })
        const context = `seed ${seed}: lost frame ${lost.index} of ${lost.did}, ${JSON.stringify({ ...result, withheld: undefined })}`
        expect(result.ok, context).toBe(true)
        expect(result.snapshots, context).toMatchObject({ complete: counters.resyncsSucceeded, open: 0, records: counters.snapshotRecords, violations: { count: 0 } })
        expect(result.withheld.syncs.length, context).toBe(notLost.filter((entry) => entry.type === 'sync').length)
        // At least the commit that found the chain broken; the held ones the snapshot covered.
        expect(result.withheld.commits.length, context).toBeGreaterThanOrEqual(1 + counters.repoHeldCovered)
        expect(result.late.length, context).toBe(counters.repoHeldReleased)
        expect(counters.repoHeld, context).toBeGreaterThan(0)

        const without = await checkStream({ redisUrl: own.redis.url, stream: keys.stream, expected: notLost })
        expect(without.ok).toBe(false)
        expect(without.snapshots.entries).toBeGreaterThan(2)

        const args = ['verify', '--fixture', generated.path, '--redis', own.redis.url, '--stream', keys.stream, '--replay', relay.httpUrl]
        const flagged = await runCli([...args, '--repo-state'])
        expect(flagged.code, flagged.stdout + flagged.stderr).toBe(0)
        expect(flagged.stdout).toContain(`late:         ${result.late.length === 0 ? '0' : String(result.late.length)}`)
        const unflagged = await runCli(args)
        expect(unflagged.code).toBe(2)
        expect(unflagged.stderr).toMatch(/^firehose verify: \S+ holds repo snapshot entries \(written by ingest --repo-state\): give --repo-state/)
      } finally {
        await relay.close()
      }
    }, 90_000)
  }
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoStateKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { colocatedKey, keyLayout, shardStream } from '../../common/key-layout.js'
import { SeededRandom } from '../../common/random.js'
import { openClusterClient } from '../../common/redis-open.js'
import { startRedisCluster } from '../../harness/redis/cluster.js'
import { decodeRepoState } from '../../repo-sync/repo-state-codec.js'
import { shardOfDid } from '../../protocol/shard.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle, IngestorOptions } from '../../ingestor/index.js'
import type { ReplayHandle } from '../../replay/index.js'
import { decodeEvent } from '../../protocol/events.js'
import { generate, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { groundTruth } from '../../stream-check/ground-truth.js'
import { diffRepos, ModelAppView } from '../../stream-check/model-appview.js'
import { ownRedisForSuite, readStream, replay } from './helpers.js'
import { modelOf, slowResyncRelay, startRepoStateIngestor, storedStates, type RepoStateRun } from './repo-state-rig.js'

/**
 * `--repo-state` end to end: a replay relay that loses frames (faults), the replay's getRepo and
 * PLC directory as the PDS, a real Redis; the stream read back through the consumer's parser into
 * the model AppView must equal the ground truth (every frame applied), with nothing applied twice.
 */
const SEED = 1818
const own = ownRedisForSuite()
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated
let frames: Uint8Array[]

beforeAll(async () => {
  tmp = await generatorTempDir()
  generated = await generate(tmp.dir, 'repo-state.fixture.gz', { events: 600, accounts: 15, medianRecords: 6, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
}, 60_000)
afterAll(async () => {
  await tmp?.cleanup()
})

const lastSeq = (): number => {
  const last = decodeEvent(frames[frames.length - 1]!)
  if (last.type !== 'commit' && last.type !== 'identity' && last.type !== 'account' && last.type !== 'sync') throw new Error('the fixture ends with an unsequenced frame')
  return last.seq
}

/** Frames (0-based) of commits whose repo committed before and commits `after` more times later: losing one shows at the next. */
function losableCommits(after = 1): { index: number; did: string }[] {
  const repos = frames.map((bytes) => {
    const event = decodeEvent(bytes)
    return event.type === 'commit' ? event.repo : null
  })
  return repos.flatMap((did, i) => (did !== null && repos.slice(0, i).includes(did) && repos.slice(i + 1).filter((later) => later === did).length >= after ? [{ index: i, did }] : []))
}

async function ingest(relay: ReplayHandle, extra: Partial<IngestorOptions> = {}): Promise<{ handle: IngestorHandle; keys: RepoStateRun['keys'] }> {
  return startRepoStateIngestor(own.redis.url, relay, extra)
}

describe('a clean relay: every commit continues its repo, so the stream equals the ground truth and every repo ends synchronized', () => {
  it(`publishes every commit, no resync (seed ${SEED})`, async () => {
    const relay = await replay([generated.path], { start: 'first-client', seed: SEED })
    const { handle, keys } = await ingest(relay)
    try {
      await waitUntil(() => (handle.status().storedCursor ?? -1) >= lastSeq(), { what: `cursor ${lastSeq()}`, timeoutMs: 30_000 })
      const counters = handle.status().counters
      expect(counters).toMatchObject({ resyncsStarted: 0, repoDesyncSince: 0, repoDesyncPrevData: 0, repoStaleRevs: 0 })
    } finally {
      await handle.stop()
      await relay.close()
    }
    expect(diffRepos((await modelOf(own.redis.url, keys.stream)).repos(), groundTruth(frames))).toEqual([])
    const states = await storedStates(own.admin, repoStateKeyOf(keys.stream))
    expect(states.size).toBeGreaterThan(5)
    expect([...states.values()].every((sync) => sync === 'synchronized')).toBe(true)
  }, 60_000)
})

describe('a commit lost upstream: the next commit of its repo desynchronizes it, the resync publishes a snapshot, and the model equals the ground truth', () => {
  for (const seed of [1, 2]) {
    it(`seed ${seed}`, async () => {
      const lost = new SeededRandom(seed).pick(losableCommits()).index
      // atFrame N: applied right after the client's frame N, so frame index N (0-based) is swallowed.
      const relay = await replay([generated.path], { start: 'first-client', seed, faults: [{ kind: 'swallow', atFrame: lost, count: 1 }] })
      const { handle, keys } = await ingest(relay)
      try {
        await waitUntil(() => (handle.status().storedCursor ?? -1) >= lastSeq(), { what: `cursor ${lastSeq()} (seed ${seed})`, timeoutMs: 30_000 })
        await waitUntil(() => handle.status().counters.resyncsSucceeded >= 1, { what: `a resync (seed ${seed})`, timeoutMs: 30_000 })
        const counters = handle.status().counters
        expect(counters.repoDesyncSince + counters.repoDesyncPrevData, `seed ${seed}`).toBe(1)
        expect(counters.snapshotRecords, `seed ${seed}`).toBeGreaterThan(0)
      } finally {
        await handle.stop()
        await relay.close()
      }
      expect(diffRepos((await modelOf(own.redis.url, keys.stream)).repos(), groundTruth(frames)), `seed ${seed}: lost frame ${lost}`).toEqual([])
      expect(
        [...(await storedStates(own.admin, repoStateKeyOf(keys.stream))).values()].every((sync) => sync === 'synchronized'),
        `seed ${seed}`,
      ).toBe(true)
    }, 60_000)
  }
})

describe('events that arrive while their repo resyncs are held (past the memory bound spilled to Redis in the write that holds them), then published after the snapshot when newer and dropped as covered when not', () => {
  // resyncMaxHeld 1: all but the first held event of the run are spilled.
  for (const [seed, resyncMaxHeld] of [
    [3, undefined],
    [4, undefined],
    [3, 1],
  ] as const) {
    it(`seed ${seed}${resyncMaxHeld === undefined ? '' : `, at most ${resyncMaxHeld} held in memory`}: a slow getRepo while the relay goes on`, async () => {
      const lost = new SeededRandom(seed).pick(losableCommits(6).filter(({ index }) => index < frames.length / 3))
      // The CAR trickles for about a second while the repo's next commits arrive.
      const relay = await slowResyncRelay(generated.path, seed, lost, 4096)
      const { handle, keys } = await ingest(relay, resyncMaxHeld === undefined ? {} : { resyncMaxHeld })
      try {
        await waitUntil(() => (handle.status().storedCursor ?? -1) >= lastSeq(), { what: `cursor ${lastSeq()} (seed ${seed})`, timeoutMs: 30_000 })
        await waitUntil(() => handle.status().counters.resyncsSucceeded >= 1, { what: `a resync (seed ${seed})`, timeoutMs: 30_000 })
        const counters = handle.status().counters
        expect(counters.repoHeld, `seed ${seed}: events held during the slow fetch`).toBeGreaterThan(0)
        expect(counters.repoHeldReleased + counters.repoHeldCovered + counters.repoHeldDropped, `seed ${seed}`).toBe(counters.repoHeld)
        if (resyncMaxHeld !== undefined) {
          expect(counters.repoHeldSpilled, `seed ${seed}: spilled past the memory bound`).toBeGreaterThan(0)
          expect(counters.repoHeldDropped, `seed ${seed}: nothing dropped`).toBe(0)
          // The resync's last write deleted what it read back.
          expect(await own.admin.hlen(snapshotProgressKeyOf(keys.stream)), `seed ${seed}`).toBe(0)
        }
        // Nothing left waiting once the resync is done (status line and /metrics read these).
        expect(handle.status().repoSync, `seed ${seed}`).toMatchObject({ pendingResyncs: 0, resyncing: 0, heldEvents: 0 })
      } finally {
        await handle.stop()
        await relay.close()
      }
      expect(diffRepos((await modelOf(own.redis.url, keys.stream)).repos(), groundTruth(frames)), `seed ${seed}: lost frame ${lost.index} of ${lost.did}`).toEqual([])
    }, 60_000)
  }
})

describe("a getRepo that fails is retried after the repo's backoff; the repo stays desynchronized meanwhile and ends right", () => {
  it('500 once, then the repo', async () => {
    const seed = 5
    const lost = new SeededRandom(seed).pick(losableCommits())
    const relay = await replay([generated.path], {
      start: 'first-client',
      seed,
      faults: [
        { kind: 'swallow', atFrame: lost.index, count: 1 },
        { kind: 'get-repo-500', did: lost.did, count: 1 },
      ],
    })
    const { handle, keys } = await ingest(relay)
    try {
      await waitUntil(() => handle.status().counters.resyncsSucceeded >= 1 && (handle.status().storedCursor ?? -1) >= lastSeq(), { what: `a resync after a failed one (seed ${seed})`, timeoutMs: 30_000 })
      expect(handle.status().counters).toMatchObject({ resyncsFailed: 1, resyncsSucceeded: 1 })
    } finally {
      await handle.stop()
      await relay.close()
    }
    expect(diffRepos((await modelOf(own.redis.url, keys.stream)).repos(), groundTruth(frames)), `seed ${seed}`).toEqual([])
  }, 60_000)
})

describe("with --shards each repo's state lives in its shard's hash, written with its shard's entries (I20, I23)", () => {
  it("a lost commit over 3 shards: one desync, one snapshot in the repo's shard, the model of all shards equal to the truth", async () => {
    const seed = 6
    const shards = 3
    const lost = new SeededRandom(seed).pick(losableCommits())
    const relay = await replay([generated.path], { start: 'first-client', seed, faults: [{ kind: 'swallow', atFrame: lost.index, count: 1 }] })
    const { handle, keys } = await ingest(relay, { shards })
    try {
      await waitUntil(() => (handle.status().storedCursor ?? -1) >= lastSeq() && handle.status().counters.resyncsSucceeded >= 1, { what: `cursor and a resync (seed ${seed})`, timeoutMs: 30_000 })
    } finally {
      await handle.stop()
      await relay.close()
    }
    const layout = keyLayout(shards, false)
    const model = new ModelAppView()
    for (let shard = 0; shard < shards; shard++) {
      const stream = shardStream(layout, keys.stream, shard)
      const entries = await readStream(own.redis.url, stream)
      for (const fields of entries) model.applyFields(fields)
      const states = await storedStates(own.admin, colocatedKey(layout, repoStateKeyOf(keys.stream), stream))
      expect(
        [...states.keys()].every((did) => shardOfDid(did, shards) === shard),
        `seed ${seed}: shard ${shard} holds its own repos' states`,
      ).toBe(true)
      const snapshots = entries.filter((fields) => fields[1] === 'snapshot').map((fields) => (JSON.parse(fields[3]!) as { did: string }).did)
      expect(
        snapshots.every((did) => did === lost.did && shardOfDid(did, shards) === shard),
        `seed ${seed}`,
      ).toBe(true)
    }
    expect(diffRepos(model.repos(), groundTruth(frames)), `seed ${seed}`).toEqual([])
  }, 60_000)
})

describe("on a Redis Cluster each shard's per-repo state sits in its stream's slot, so the write script (entries, cursor, state, snapshot progress) runs on one master (I20, I23)", () => {
  it('a lost commit over 3 shards on 3 masters: the model of all shards equal to the truth', async () => {
    const seed = 8
    const shards = 3
    const cluster = await startRedisCluster({ masters: 3 })
    const admin = await openClusterClient(cluster.seedUrls)
    const lost = new SeededRandom(seed).pick(losableCommits())
    const relay = await replay([generated.path], { start: 'first-client', seed, faults: [{ kind: 'swallow', atFrame: lost.index, count: 1 }] })
    try {
      const { handle, keys } = await startRepoStateIngestor(cluster.seedUrls[0]!, relay, { shards, redisCluster: true })
      try {
        await waitUntil(() => (handle.status().storedCursor ?? -1) >= lastSeq() && handle.status().counters.resyncsSucceeded >= 1, { what: `cursor and a resync on the cluster (seed ${seed})`, timeoutMs: 40_000 })
        expect(handle.status().counters.redisErrors, `seed ${seed}: no CROSSSLOT or other refusal`).toBe(0)
      } finally {
        await handle.stop()
      }
      const layout = keyLayout(shards, true)
      const model = new ModelAppView()
      for (let shard = 0; shard < shards; shard++) {
        const stream = shardStream(layout, keys.stream, shard)
        for (const [, fields] of await admin.xrange(stream, '-', '+')) model.applyFields(fields)
        const states = Object.values(await admin.hgetallBuffer(colocatedKey(layout, repoStateKeyOf(keys.stream), stream)))
        expect(
          states.every((value) => decodeRepoState(value).sync === 'synchronized'),
          `seed ${seed}, shard ${shard}`,
        ).toBe(true)
      }
      expect(diffRepos(model.repos(), groundTruth(frames)), `seed ${seed}`).toEqual([])
    } finally {
      admin.disconnect()
      await relay.close()
      await cluster.stop()
    }
  }, 90_000)
})

describe('held events a run spilled and never released (it stopped mid-resync) are deleted by the next run, whose resync is fetched after them and covers them', () => {
  it('stop while spilled, restart on the same keys', async () => {
    const seed = 3
    const lost = new SeededRandom(seed).pick(losableCommits(6).filter(({ index }) => index < frames.length / 3))
    // The first getRepo trickles for minutes: the run is stopped while it does.
    const relay = await slowResyncRelay(generated.path, seed, lost, 64)
    const spilledFields = async (stream: string): Promise<string[]> => (await own.admin.hkeys(snapshotProgressKeyOf(stream))).filter((field) => field.includes('#held#'))
    try {
      const first = await ingest(relay, { resyncMaxHeld: 1 })
      try {
        await waitUntil(() => first.handle.status().counters.repoHeldSpilled >= 2, { what: `spilled held events (seed ${seed})`, timeoutMs: 30_000 })
      } finally {
        await first.handle.stop()
      }
      expect((await spilledFields(first.keys.stream)).length, `seed ${seed}: left in Redis by the stopped run`).toBeGreaterThanOrEqual(2)
      const second = await startRepoStateIngestor(own.redis.url, relay, { startCursor: null }, first.keys)
      try {
        await waitUntil(() => (second.handle.status().storedCursor ?? -1) >= lastSeq() && second.handle.status().counters.resyncsSucceeded >= 1, { what: `the restart's resync (seed ${seed})`, timeoutMs: 30_000 })
      } finally {
        await second.handle.stop()
      }
      expect(await spilledFields(first.keys.stream), `seed ${seed}: deleted by the restart's resync`).toEqual([])
      expect(diffRepos((await modelOf(own.redis.url, first.keys.stream)).repos(), groundTruth(frames)), `seed ${seed}`).toEqual([])
    } finally {
      await relay.close()
    }
  }, 90_000)
})

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoStateKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { SeededRandom } from '../../common/random.js'
import { IngestorProcess } from '../../harness/ingestor-process.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import { sleep, waitUntil } from '../../harness/wait.js'
import { decodeEvent } from '../../protocol/events.js'
import { decodeRepoState } from '../../repo-sync/repo-state-codec.js'
import { generate, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { GroundTruth, groundTruth } from '../../stream-check/ground-truth.js'
import { diffRepos, ModelAppView } from '../../stream-check/model-appview.js'
import { readStream, replay, startOwnRedis, uniqueKeys } from './helpers.js'
import { modelOf, startRepoStateIngestor } from './repo-state-rig.js'

/**
 * kill -9 while a repo's snapshot is half written (`mid-snapshot` crash point, after a seeded
 * number of its parts), then a restart: the next run finds the repo resyncing with an open
 * snapshot in Redis, ends it `complete: false` and publishes a new one. Every part is in the
 * stream once (the model AppView refuses a part twice) and the model ends equal to the truth.
 */
const SEED = Number(process.env.FIREHOSE_TEST_SEED ?? 2026)
const PART_RECORDS = 3
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated
let frames: Uint8Array[]
let redis: RedisHandle

beforeAll(async () => {
  tmp = await generatorTempDir()
  generated = await generate(tmp.dir, 'repo-state-crash.fixture.gz', { events: 400, accounts: 8, medianRecords: 40, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
  redis = await startOwnRedis()
}, 60_000)
afterAll(async () => {
  await redis?.stop()
  await tmp?.cleanup()
})

function seqOf(bytes: Uint8Array): number {
  const event = decodeEvent(bytes)
  if (event.type === 'commit' || event.type === 'identity' || event.type === 'account' || event.type === 'sync') return event.seq
  throw new Error('an unsequenced frame in the fixture')
}

/** Per frame index i: each repo's fewest records over the states after frames i..end. */
function fewestRecordsFrom(all: readonly Uint8Array[]): Map<string, number>[] {
  const truth = new GroundTruth()
  const sizes = all.map((bytes) => {
    truth.add(bytes)
    return new Map([...truth.result()].map(([did, records]) => [did, records.size]))
  })
  const fewest: Map<string, number>[] = new Array<Map<string, number>>(all.length)
  let running = new Map<string, number>()
  for (let i = all.length - 1; i >= 0; i--) {
    const next = new Map(sizes[i])
    for (const [did, size] of running) next.set(did, Math.min(size, next.get(did) ?? size))
    fewest[i] = running = next
  }
  return fewest
}

describe('kill -9 in the middle of a repo snapshot: the restart ends it incomplete and writes a whole one, every part once', () => {
  it(`seed ${SEED}`, async () => {
    const random = new SeededRandom(SEED)
    const events = frames.map((bytes) => decodeEvent(bytes))
    // A deactivated account's getRepo is refused (RepoDeactivated) until it is active again: not a crash to test here.
    const everInactive = new Set(events.flatMap((event) => (event.type === 'account' && !event.active ? [event.did] : [])))
    const repos = events.map((event) => (event.type === 'commit' && !everInactive.has(event.repo) ? event.repo : null))
    const truth = groundTruth(frames)
    // The fewest records each repo holds from each frame on: its snapshot, fetched at some later
    // frame, has at least that many, so at least that many parts of PART_RECORDS.
    const fewestFrom = fewestRecordsFrom(frames)
    const partsOf = (did: string, from: number): number => Math.ceil((fewestFrom[from]!.get(did) ?? 0) / PART_RECORDS)
    const losable = repos.flatMap((did, i) => (did !== null && partsOf(did, i) >= 2 && repos.slice(0, i).includes(did) && repos.slice(i + 1).includes(did) ? [i] : []))
    const lost = random.pick(losable)
    const relay = await replay([generated.path], { start: 'first-client', seed: SEED, faults: [{ kind: 'swallow', atFrame: lost, count: 1 }] })
    const keys = uniqueKeys('test:repo-state-crash')
    const admin = new Redis(redis.url)
    await admin.set(keys.cursorKey, '0')
    const lastSeq = seqOf(frames[frames.length - 1]!)
    const start = (crashAt: string | null): IngestorProcess =>
      IngestorProcess.start({
        relayUrl: relay.url,
        redisUrl: redis.url,
        stream: keys.stream,
        cursorKey: keys.cursorKey,
        crashAt,
        repoState: true,
        args: ['--allow-private-hosts', '--plc-url', relay.plcUrl, '--snapshot-part-records', String(PART_RECORDS), '--status-interval', '60'],
        env: { FIREHOSE_LOG_LEVEL: process.env.FIREHOSE_LOG_LEVEL ?? 'warn' },
      })
    const crashAt = `mid-snapshot:${random.int(1, partsOf(repos[lost]!, lost) - 1)}`
    try {
      const crashing = start(crashAt)
      const exit = await Promise.race([crashing.exited, sleep(30_000).then(() => null)])
      if (exit?.signal !== 'SIGKILL') {
        await crashing.kill9()
        throw crashing.failure(`did not crash at ${crashAt} (exit ${JSON.stringify(exit)}; seed ${SEED})`)
      }
      expect(await admin.hlen(snapshotProgressKeyOf(keys.stream)), `seed ${SEED}: a snapshot left open`).toBe(1)
      const last = start(null)
      const synchronized = async (): Promise<boolean> => {
        const states = Object.values(await admin.hgetallBuffer(repoStateKeyOf(keys.stream)))
        return states.length > 0 && states.every((value) => decodeRepoState(value).sync === 'synchronized') && (await admin.hlen(snapshotProgressKeyOf(keys.stream))) === 0
      }
      await waitUntil(async () => Number(await admin.get(keys.cursorKey)) >= lastSeq && (await synchronized()), { what: `the restart to finish the resync (seed ${SEED})`, timeoutMs: 30_000 })
      expect(await last.stop()).toEqual({ code: 0, signal: null })
    } finally {
      await relay.close()
    }
    const entries = await readStream(redis.url, keys.stream)
    const ends = entries.filter((fields) => fields[1] === 'snapshot' && (JSON.parse(fields[3]!) as { phase: string }).phase === 'end').map((fields) => (JSON.parse(fields[3]!) as { complete: boolean }).complete)
    expect(ends, `seed ${SEED}, ${crashAt}: the abandoned snapshot, then the whole one`).toEqual([false, true])
    const model = new ModelAppView()
    for (const fields of entries) model.applyFields(fields)
    expect(diffRepos(model.repos(), truth), `seed ${SEED}, ${crashAt}, lost frame ${lost}`).toEqual([])
    admin.disconnect()
  }, 90_000)
})

describe('Redis SIGKILLed and restarted (AOF everysec: it loses its latest writes) under --repo-state: state, stream and cursor agree after each crash (I23)', () => {
  it(`2 Redis kills during a run with a desync (seed ${SEED})`, async () => {
    const random = new SeededRandom(SEED + 1)
    const own = await startOwnRedis('aof-everysec')
    const events = frames.map((bytes) => decodeEvent(bytes))
    const everInactive = new Set(events.flatMap((event) => (event.type === 'account' && !event.active ? [event.did] : [])))
    const repos = events.map((event) => (event.type === 'commit' && !everInactive.has(event.repo) ? event.repo : null))
    const lost = random.pick(repos.flatMap((did, i) => (did !== null && repos.slice(0, i).includes(did) && repos.slice(i + 1).includes(did) ? [i] : [])))
    const relay = await replay([generated.path], { start: 'first-client', seed: SEED, rate: { mode: 'rate', eventsPerSec: 150 }, faults: [{ kind: 'swallow', atFrame: lost, count: 1 }] })
    const lastSeq = seqOf(frames[frames.length - 1]!)
    const { handle, keys } = await startRepoStateIngestor(own.url, relay, { redisBackoff: { initialMs: 20, maxMs: 200 }, snapshotPartRecords: PART_RECORDS })
    let admin: Redis | null = null
    try {
      for (const fraction of [0.3, 0.6]) {
        await waitUntil(() => handle.status().counters.eventsWritten >= frames.length * fraction, { what: `${fraction} of the frames written (seed ${SEED})`, timeoutMs: 30_000 })
        await own.kill()
        await own.restart()
      }
      admin = new Redis(own.url)
      const done = async (): Promise<boolean> => {
        const states = Object.values(await admin!.hgetallBuffer(repoStateKeyOf(keys.stream)))
        return (
          Number(await admin!.get(keys.cursorKey)) >= lastSeq &&
          states.length > 0 &&
          states.every((value) => decodeRepoState(value).sync === 'synchronized') &&
          (await admin!.hlen(snapshotProgressKeyOf(keys.stream))) === 0
        )
      }
      await waitUntil(done, { what: `the last seq and every repo synchronized (seed ${SEED})`, timeoutMs: 40_000 })
    } finally {
      await handle.stop()
      await relay.close()
    }
    expect(diffRepos((await modelOf(own.url, keys.stream)).repos(), groundTruth(frames)), `seed ${SEED}, lost frame ${lost}`).toEqual([])
    admin?.disconnect()
    await own.stop()
  }, 90_000)
})

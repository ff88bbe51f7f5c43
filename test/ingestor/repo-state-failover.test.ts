import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle } from '../../ingestor/index.js'
import { relayEndpoints } from '../../ingestor/relay-endpoints.js'
import { withSeq } from '../../replay/index.js'
import { generate, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { groundTruth } from '../../stream-check/ground-truth.js'
import { diffRepos, ModelAppView, ModelAppViewErrorCode } from '../../stream-check/model-appview.js'
import { loadIngestor, ownRedisForSuite, readStream, replay, uniqueKeys, writeFixture } from './helpers.js'

/**
 * Issue 18 part 4: across relays, a repo's rev says what was applied where seqs cannot. The
 * fallback relay carries the same events in another seq space and, with its cursor key at the
 * start of its window, replays what the primary already delivered: with per-repo state each of
 * those is stale by its rev and skipped, so the model AppView applies every record once; without
 * it the same run writes them twice (the control below).
 */
const SEED = 4242
const FALLBACK_BASE = 1_000_000
const own = ownRedisForSuite()
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated
let frames: Uint8Array[]
let fallbackFixture: string

beforeAll(async () => {
  tmp = await generatorTempDir()
  generated = await generate(tmp.dir, 'failover.fixture.gz', { events: 500, accounts: 12, medianRecords: 6, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
  fallbackFixture = await writeFixture(
    join(tmp.dir, 'fallback.fixture.gz'),
    frames.map((bytes, i) => withSeq(bytes, FALLBACK_BASE + i + 1)),
  )
}, 60_000)
afterAll(async () => {
  await tmp?.cleanup()
})

/** Primary stalls after `stallAt` frames; the fallback (its cursor key at the start of its window) replays everything. */
async function failoverRun(repoState: boolean): Promise<{ keys: ReturnType<typeof uniqueKeys>; status: ReturnType<IngestorHandle['status']> }> {
  const stallAt = Math.floor(frames.length / 2)
  const primary = await replay([generated.path], { start: 'first-client', seed: SEED, faults: [{ kind: 'stall', atFrame: stallAt, durationMs: 120_000 }] })
  const fallback = await replay([fallbackFixture], { seed: SEED })
  const keys = uniqueKeys('test:repo-state-failover')
  const fallbackKey = relayEndpoints([primary.url, fallback.url], keys.cursorKey)[1]!.cursorKey
  await own.admin.set(fallbackKey, String(FALLBACK_BASE))
  const { startIngestor } = await loadIngestor()
  const handle = await startIngestor({
    relayUrls: [primary.url, fallback.url],
    redisUrl: own.redis.url,
    stream: keys.stream,
    cursorKey: keys.cursorKey,
    deadLetterStream: keys.dead,
    startCursor: 0,
    statusIntervalMs: 0,
    decodeWorkers: 0,
    stallTimeoutMs: 1_000,
    primaryProbeIntervalMs: 600_000,
    repoState,
    allowPrivateHosts: true,
    plcUrl: primary.plcUrl,
  })
  try {
    await waitUntil(async () => Number(await own.admin.get(fallbackKey)) >= FALLBACK_BASE + frames.length, { what: `the fallback's last seq (repoState ${repoState}, seed ${SEED})`, timeoutMs: 40_000 })
    return { keys, status: handle.status() }
  } finally {
    await handle.stop()
    await primary.close()
    await fallback.close()
  }
}

describe('relay failover with per-repo state: what the fallback replays is recognised by its rev and skipped, so every record is applied once', () => {
  it(`the fallback from the start of its window (seed ${SEED})`, async () => {
    const { keys, status } = await failoverRun(true)
    expect(status.relay.failovers, `seed ${SEED}`).toBe(1)
    expect(status.counters.repoStaleRevs, `seed ${SEED}: the primary's half, replayed`).toBeGreaterThan(0)
    const model = new ModelAppView()
    for (const fields of await readStream(own.redis.url, keys.stream)) model.applyFields(fields)
    expect(diffRepos(model.repos(), groundTruth(frames)), `seed ${SEED}`).toEqual([])
  }, 60_000)

  it('control: without per-repo state the same failover writes the replayed half again', async () => {
    const { keys } = await failoverRun(false)
    const model = new ModelAppView()
    const apply = async (): Promise<void> => {
      for (const fields of await readStream(own.redis.url, keys.stream)) model.applyFields(fields)
    }
    await expect(apply()).rejects.toMatchObject({ code: expect.stringMatching(new RegExp(`${ModelAppViewErrorCode.Duplicate}|${ModelAppViewErrorCode.Stale}`)) })
  }, 60_000)
})

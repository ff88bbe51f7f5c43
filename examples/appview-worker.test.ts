/**
 * How an AppView's own vitest suite tests its firehose workers: a realistic fixture, a fake
 * relay playing it, the real ingestor writing a real Redis stream, and the AppView's worker
 * consuming it with FirehoseConsumer. Imports the package by name, as an AppView would
 * (here through the package's self-reference to dist/: `npm test` builds first).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FirehoseConsumer, startIngestor, type IngestorHandle, type StreamEvent } from 'appview-firehose'
import { checkStream, generateFixture, startRedis, startReplayServer, waitUntil, type FixtureManifest, type RedisHandle, type ReplayHandle } from 'appview-firehose/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** The AppView code under test; a real one writes PostgreSQL. */
class Indexer {
  readonly posts = new Map<string, string>()
  readonly handles = new Map<string, string | null>()
  readonly seen = { commit: 0, identity: 0, account: 0, sync: 0, snapshot: 0 }

  handle(event: StreamEvent): void {
    this.seen[event.type]++
    if (event.type === 'identity') this.handles.set(event.data.did, event.data.handle)
    if (event.type !== 'commit') return
    for (const op of event.data.ops) {
      const uri = `at://${event.data.repo}/${op.path}`
      if (op.action === 'delete') this.posts.delete(uri)
      else if (op.path.startsWith('app.bsky.feed.post/')) this.posts.set(uri, (op.record as { text: string }).text)
    }
  }
}

let dir: string
let fixture: string
let manifest: FixtureManifest
let redis: RedisHandle
let replay: ReplayHandle
let ingestor: IngestorHandle

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'appview-example-'))
  fixture = join(dir, 'network.fixture.gz')
  manifest = await generateFixture({ out: fixture, events: 300, seed: 7 })
  // kind 'process' runs redis-server; leave it out to let the harness pick (a container when its image is present).
  redis = await startRedis({ kind: 'process' })
  replay = await startReplayServer({ fixture })
  // Per-repo state is on by default; should a repo need a resync, the replay is its PDS and PLC directory (a test runs offline).
  ingestor = await startIngestor({ relayUrl: replay.url, redisUrl: redis.url, startCursor: 0, statusIntervalMs: 0, plcUrl: replay.plcUrl, allowPrivateHosts: true })
  await waitUntil(() => replay.status().finished && (ingestor.status().storedCursor ?? -1) >= (replay.status().headSeq ?? Infinity), {
    what: 'the fixture ingested',
    timeoutMs: 30_000,
  })
}, 60_000)

afterAll(async () => {
  await ingestor?.stop()
  await replay?.close()
  await redis?.stop()
  await rm(dir, { recursive: true, force: true })
})

const syncs = (): number => manifest.countsByType['#sync'] ?? 0

describe('an AppView worker on the firehose stream', () => {
  it('finds every fixture event in firehose:events exactly once, in order (#sync withheld by per-repo state)', async () => {
    const result = await checkStream({ redisUrl: redis.url, fixture, repoState: true })
    expect(result).toMatchObject({ ok: true, expected: manifest.frameCount, lost: [], duplicated: [] })
    expect(result.withheld.syncs).toHaveLength(syncs())
  })

  it('indexes every event, and an event whose handler failed once is retried', async () => {
    const indexer = new Indexer()
    let failedOnce = false
    const worker = new FirehoseConsumer({ redis: redis.url, consumer: 'appview-test', minIdleMs: 200, claimIntervalMs: 100, blockMs: 50 })
    await worker.start((event) => {
      if (!failedOnce && event.type === 'commit') {
        failedOnce = true
        throw new Error('database is restarting')
      }
      indexer.handle(event)
    })
    try {
      await waitUntil(() => worker.stats.handled === manifest.frameCount - syncs(), { what: 'every event handled', timeoutMs: 20_000 })
    } finally {
      await worker.stop()
    }
    expect(indexer.seen).toEqual({
      commit: manifest.countsByType['#commit'] ?? 0,
      identity: manifest.countsByType['#identity'] ?? 0,
      account: manifest.countsByType['#account'] ?? 0,
      sync: 0, // a #sync reaches workers as a repo snapshot when it changes the repo (docs/repo-sync.md)
      snapshot: 0, // repo snapshots come from resyncs (docs/consumer.md); a clean relay causes none
    })
    expect(indexer.posts.size).toBeGreaterThan(0)
    expect(worker.stats).toMatchObject({ failed: 1, claimed: 1, acked: manifest.frameCount - syncs(), deadLettered: 0 })
  })
})

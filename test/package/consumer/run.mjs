// Run with node by test/package/pack.test.ts in a scratch project that installed the packed
// tarball (no devDependencies, no testcontainers): both entry points load, and a small fixture
// goes through replay -> ingestor -> Redis -> FirehoseConsumer. Prints one `RESULT {json}` line.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FirehoseConsumer, startIngestor } from 'appview-firehose'
import { checkStream, generateFixture, startRedis, startReplayServer, waitUntil } from 'appview-firehose/testing'

const dir = await mkdtemp(join(tmpdir(), 'firehose-packed-'))
const fixture = join(dir, 'small.fixture.gz')
const stops = []
try {
  const manifest = await generateFixture({ out: fixture, events: 20, accounts: 3, seed: 11 })
  // No `kind`: the harness picks a provider and says why on stderr (the test checks the reason).
  const redis = await startRedis()
  stops.unshift(() => redis.stop())
  const replay = await startReplayServer({ fixture })
  stops.unshift(() => replay.close())
  const ingestor = await startIngestor({ relayUrl: replay.url, redisUrl: redis.url, startCursor: 0, statusIntervalMs: 0 })
  stops.unshift(() => ingestor.stop())
  await waitUntil(() => replay.status().finished && (ingestor.status().storedCursor ?? -1) >= (replay.status().headSeq ?? Infinity), { what: 'the fixture ingested', timeoutMs: 20_000 })
  const check = await checkStream({ redisUrl: redis.url, fixture })
  let handled = 0
  const consumer = new FirehoseConsumer({ redis: redis.url, consumer: 'packed', blockMs: 50 })
  await consumer.start(() => void handled++)
  stops.unshift(() => consumer.stop())
  await waitUntil(() => handled >= manifest.frameCount, { what: 'every event handled', timeoutMs: 20_000 })
  const result = { redisKind: redis.kind, frames: manifest.frameCount, ok: check.ok, lost: check.lost, duplicated: check.duplicated, handled }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
} finally {
  for (const stop of stops) await stop()
  await rm(dir, { recursive: true, force: true })
}

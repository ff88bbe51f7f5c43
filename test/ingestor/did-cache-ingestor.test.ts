import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPlcServer, type PlcServer } from '../../harness/plc-server.js'
import { committedFixture, ingestUntil, ownRedisForSuite, replay, tempDir, uniqueKeys, writeFixture } from './helpers.js'
import { committedFramesAndDocs, frameType } from './verify-frames.js'

/** The ingestor wires the shared DID cache on its own Redis connection: a restart on the same stream resolves from Redis. */
describe('firehose ingest --verify restarted: the second run resolves its DIDs from the shared cache the first filled (real replay server, redis-server, HTTP PLC directory)', () => {
  const suite = ownRedisForSuite()
  const tmp = tempDir()
  let plc: PlcServer
  beforeAll(async () => {
    plc = (await startPlcServer(committedFixture))!
  })
  afterAll(async () => {
    await plc.close()
    tmp.cleanup()
  })

  it('makes no PLC request for the accounts the first run fetched', async () => {
    const { frames } = await committedFramesAndDocs()
    const signed = frames.filter((f) => ['#commit', '#sync'].includes(frameType(f).t)).slice(0, 300)
    const file = await writeFixture(`${tmp.dir}/restart.fixture`, signed)
    const keys = uniqueKeys('test:did-cache-ingestor')
    const lastSeq = frameType(signed.at(-1)!).seq
    const accounts = new Set(signed.map((f) => frameType(f).did)).size
    const run = async (cursorKey: string) => {
      const server = await replay([file])
      try {
        return (await ingestUntil({ relayUrl: server.url, redisUrl: suite.redis.url, stream: keys.stream, cursorKey, startCursor: 0, verify: true, plcUrl: plc.url }, lastSeq, 60_000)).status()
      } finally {
        await server.close()
      }
    }
    const first = await run(keys.cursorKey)
    expect(first.counters.plcRequests).toBe(accounts)
    expect(await suite.admin.hlen(`${keys.stream}:did-keys`)).toBe(accounts)
    const before = plc.requests()
    const second = await run(`${keys.cursorKey}:again`)
    expect(second.counters.verifiedFrames).toBe(signed.length)
    expect(plc.requests() - before).toBe(0)
    expect(second.counters.didSharedCacheHits).toBe(accounts)
  }, 120_000)
})

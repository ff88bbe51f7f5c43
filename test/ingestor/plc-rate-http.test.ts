import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { waitUntil } from '../../harness/wait.js'
import { INGESTOR_DEFAULTS, resolveOptions } from '../../ingestor/options.js'
import { emptyCounters } from '../../ingestor/status.js'
import { DidResolver } from '../../ingestor/verify/did-resolver.js'
import { createFrameVerifier } from '../../ingestor/verify/frame-verifier.js'
import { PlcRateLimit } from '../../ingestor/verify/plc-rate-limit.js'
import { startGeneratedPlcServer, startPlcServer, type PlcServer } from '../../harness/plc-server.js'
import { FakeTimers } from '../support/fake-timers.js'
import { committedFixture, expectIngestUsageError } from './helpers.js'
import { committedFramesAndDocs, frameType } from './verify-frames.js'

describe('--plc-rps against a real HTTP PLC directory (harness/plc-server.ts, real secp256k1 keys): the server never sees more than burst + rate x t requests by fake time t, and the batch waits for its keys', () => {
  let plc: PlcServer & { dids: readonly string[] }
  beforeAll(async () => {
    plc = await startGeneratedPlcServer({ dids: 60, seed: 7 })
  })
  afterAll(() => plc.close())

  it('rate 20/s, burst 1: one more request per 50 ms of fake time, the batch done only with the last', async () => {
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const bucket = new PlcRateLimit(20, 1, timers, counters)
    const resolver = new DidResolver({ plcUrl: plc.url, cacheSize: 1_000, ttlMs: 60_000, timeoutMs: 5_000, maxInFlight: 8, plcRateLimit: bucket, counters })
    let done = false
    const batch = Promise.all(plc.dids.map((did) => resolver.resolve(did))).then((answers) => {
      done = true
      return answers
    })
    // Quiet: every free slot waits for a token, and every request granted has reached the server.
    const quiet = (what: string): Promise<void> => waitUntil(() => bucket.waiting === Math.min(8, plc.dids.length - counters.plcRequests) && plc.requests() === counters.plcRequests, { what, timeoutMs: 10_000 })
    await quiet('the first request')
    expect(plc.requests()).toBe(1)
    for (let step = 1; step < plc.dids.length; step++) {
      expect(done).toBe(false)
      timers.advance(50)
      await new Promise((resolve) => setImmediate(resolve))
      expect(counters.plcRequests).toBe(1 + step)
      await quiet(`request ${step + 1}`)
      expect(plc.requests()).toBe(1 + step)
    }
    const answers = await batch
    expect(answers.every((answer) => answer.resolution.kind === 'key')).toBe(true)
    expect(counters.plcRateLimitWaits).toBe(plc.dids.length - 1)
  })
})

describe('a stop while the batch waits for --plc-rps gives the batch up (verify answers null: the frames are fetched again from the stored cursor) without sending the requests still waiting', () => {
  let plc: PlcServer
  beforeAll(async () => {
    plc = (await startPlcServer(committedFixture))!
  })
  afterAll(() => plc.close())

  it('answers null and the PLC directory sees no more requests', async () => {
    const { frames } = await committedFramesAndDocs()
    const batch = frames.filter((f) => frameType(f).t === '#commit').slice(0, 200)
    expect(new Set(batch.map((f) => frameType(f).did)).size).toBeGreaterThan(5)
    const counters = emptyCounters()
    const verifier = createFrameVerifier({ plcUrl: plc.url, didCacheSize: 1_000, didCacheTtlMs: 60_000, didTimeoutMs: 5_000, verifyWorkers: 0, plcRps: 1 }, counters, silentLogger)
    try {
      let stopping = false
      const verdicts = verifier.verify(batch, () => stopping)
      await waitUntil(() => plc.requests() === 1, { what: 'the first PLC request', timeoutMs: 10_000 })
      stopping = true
      expect(await verdicts).toBeNull()
      expect(plc.requests()).toBe(1)
      expect(counters.plcRequests).toBe(1)
      expect(counters.verifiedFrames).toBe(0)
    } finally {
      await verifier.close()
    }
  })
})

describe('--plc-rps / FIREHOSE_PLC_RPS: default 50 (a guest on plc.directory: half what Bluesky’s own indexers use), an integer from 1 to 100000', () => {
  it('defaults to 50', () => {
    expect(INGESTOR_DEFAULTS.plcRps).toBe(50)
    expect(resolveOptions({ relayUrl: 'ws://relay.test', redisUrl: 'redis://127.0.0.1:1' }).plcRps).toBe(50)
    expect(() => resolveOptions({ relayUrl: 'ws://relay.test', redisUrl: 'redis://127.0.0.1:1', plcRps: 0.5 })).toThrow(/plcRps must be an integer from 1 to 100000/)
  })

  it.concurrent.for([
    [['--verify', '--plc-rps', '0'], {}, /--plc-rps.*expected an integer from 1 to 100000/],
    [['--verify'], { FIREHOSE_PLC_RPS: 'fast' }, /FIREHOSE_PLC_RPS.*expected an integer/],
  ] as const)('rejects %j %j with exit 2 and a one-line reason, before connecting', async ([args, env, reason], { expect }) => {
    await expectIngestUsageError(args, env, reason, expect)
  })
})

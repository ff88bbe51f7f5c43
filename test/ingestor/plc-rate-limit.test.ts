import { Secp256k1Keypair } from '@atproto/crypto'
import { http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { emptyCounters } from '../../ingestor/status.js'
import { DidResolver } from '../../ingestor/verify/did-resolver.js'
import { PlcRateLimit, WaitCancelled } from '../../ingestor/verify/plc-rate-limit.js'
import { FakeTimers } from '../support/fake-timers.js'
import { didDoc } from './verify-frames.js'

/** Lets the promise callbacks of what the fake clock released run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('--plc-rps: by fake time t at most burst + rate x t requests have started, and none waits once a token is due (the PLC directory is shared by every account: a restart must not hammer it)', () => {
  it.each([
    { rate: 10, burst: 1 },
    { rate: 50, burst: 2 },
    { rate: 1_000, burst: 50 },
  ])('rate $rate/s, burst $burst, 300 requests at once, time moved in seeded random steps', async ({ rate, burst }) => {
    const seed = 20_250_101 + rate
    onTestFailed(() => console.log(`seed ${seed}`))
    const random = new SeededRandom(seed)
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const bucket = new PlcRateLimit(rate, burst, timers, counters)
    let started = 0
    const all = Array.from({ length: 300 }, () => bucket.take().then(() => started++))
    await settle()
    expect(started).toBe(burst)
    let elapsedMs = 0
    while (started < 300) {
      const step = random.int(1, Math.ceil(2_000 / rate))
      timers.advance(step)
      elapsedMs += step
      await settle()
      // Never over the rate; and late by at most the 1 ms a timer rounds up to.
      expect(started).toBeLessThanOrEqual(Math.min(300, burst + Math.floor((rate * elapsedMs) / 1000)))
      expect(started).toBeGreaterThanOrEqual(Math.min(300, burst + Math.floor((rate * (elapsedMs - 1)) / 1000)))
    }
    await Promise.all(all)
    expect(counters.plcRateLimitWaits).toBe(300 - burst)
    expect(timers.pendingCount).toBe(0)
  })

  it('tokens accrue while idle up to the burst only', async () => {
    const timers = new FakeTimers()
    const bucket = new PlcRateLimit(10, 3, timers, emptyCounters())
    timers.advance(60_000)
    let started = 0
    for (let i = 0; i < 10; i++) void bucket.take().then(() => started++)
    await settle()
    expect(started).toBe(3)
    timers.advance(100)
    await settle()
    expect(started).toBe(4)
  })
})

describe('waiters are served first come, first served; a waiter whose batch was given up (the pipeline stopping) is rejected WaitCancelled without taking a token', () => {
  it('serves in order and skips the cancelled ones', async () => {
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const bucket = new PlcRateLimit(10, 1, timers, counters)
    await bucket.take()
    let stopping = false
    const order: string[] = []
    const first = bucket.take().then(() => order.push('first'))
    const cancelled = bucket
      .take(() => stopping)
      .then(
        () => order.push('cancelled ran'),
        (err: unknown) => order.push(err instanceof WaitCancelled ? 'cancelled' : 'other error'),
      )
    const third = bucket.take().then(() => order.push('third'))
    stopping = true
    timers.advance(100)
    await Promise.all([first, cancelled])
    await settle()
    // The cancelled waiter left without the token: the third is served at the same tick as its turn came.
    expect(order).toEqual(['first', 'cancelled'])
    timers.advance(100)
    await third
    expect(order).toEqual(['first', 'cancelled', 'third'])
    expect(counters.plcRateLimitWaits).toBe(3)
    expect(counters.plcRateLimitWaitMs).toBe(100 + 200)
    await expect(bucket.take(() => true)).rejects.toBeInstanceOf(WaitCancelled)
  })
})

describe('DidResolver: PLC requests wait for --plc-rps, did:web requests do not (atproto did:web is host-level: each host serves one account, fetched once at a time, then cached)', () => {
  const PLC = 'https://plc.rate.test'
  const mock = setupServer()
  beforeAll(() => mock.listen({ onUnhandledRequest: 'error' }))
  afterEach(() => mock.resetHandlers())
  afterAll(() => mock.close())

  it('with no PLC token left a did:web resolves and a did:plc waits for the clock', async () => {
    const key = await Secp256k1Keypair.create()
    const web = 'did:web:alice.rate.test'
    const plcDids = ['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb']
    mock.use(
      http.get(`${PLC}/:did`, ({ params }) => HttpResponse.json(didDoc(decodeURIComponent(String(params.did)), key))),
      http.get('https://alice.rate.test/.well-known/did.json', () => HttpResponse.json(didDoc(web, key))),
    )
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const resolver = new DidResolver({ plcUrl: PLC, cacheSize: 10, ttlMs: 60_000, timeoutMs: 2_000, maxInFlight: 4, plcRateLimit: new PlcRateLimit(1, 1, timers, counters), counters })
    expect((await resolver.resolve(plcDids[0]!)).resolution.kind).toBe('key')
    let second = false
    const waiting = resolver.resolve(plcDids[1]!).then(() => (second = true))
    expect((await resolver.resolve(web)).resolution.kind).toBe('key')
    expect(second).toBe(false)
    expect(counters.plcRequests).toBe(1)
    timers.advance(1_000)
    await waiting
    expect(counters.plcRequests).toBe(2)
    expect(resolver.fetches).toBe(3)
  })
})

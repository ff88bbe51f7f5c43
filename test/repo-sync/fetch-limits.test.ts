import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { systemTimers, type Timers } from '../../common/timers.js'
import { ioTurns, waitUntil } from '../../harness/wait.js'
import { RepoSyncError, RepoSyncErrorCode } from '../../repo-sync/errors.js'
import { FetchLimiter, type FetchSlot } from '../../repo-sync/fetch-limits.js'
import { rateLimitResetMs } from '../../repo-sync/rate-limit-headers.js'
import { RepoBackoff } from '../../repo-sync/repo-backoff.js'
import { FakeTimers } from '../support/fake-timers.js'
import { REAL_CARS, testFetcher } from './fetch-fixtures.js'
import { FetchServer, InFlight, json } from './fetch-server.js'

const { did, car } = REAL_CARS.greenground

describe('concurrency: never more than maxConcurrent requests at once, nor maxPerHost to one host, and no slot idle while work waits (counted at the servers)', () => {
  const shared = new InFlight()
  const servers: FetchServer[] = []
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const server = await FetchServer.start(shared)
      server.serveCar(did, car)
      server.hold = true
      servers.push(server)
    }
  })
  afterAll(() => Promise.all(servers.map((s) => s.close())))

  it('15 fetches over 3 hosts with maxConcurrent 4 and maxPerHost 2, answered one at a time in a seeded order', async () => {
    const seed = SeededRandom.freshSeed()
    const random = new SeededRandom(seed)
    const { fetcher, limiter } = testFetcher(servers[0]!, systemTimers, { limits: { maxConcurrent: 4, maxPerHost: 2 } })
    const remaining = servers.map(() => 5)
    let done = 0
    const fetches = servers.flatMap((server, s) =>
      Array.from({ length: 5 }, async () => {
        const repo = await fetcher.fetchRepo(did, { source: server.url })
        await repo.close()
        remaining[s]!--
        done++
        return repo.rev
      }),
    )
    while (done < 15) {
      // Work-conserving: as many in flight as the limits allow for the work that is left.
      const expected = Math.min(
        4,
        remaining.reduce((n, left) => n + Math.min(2, left), 0),
      )
      await waitUntil(() => servers.reduce((n, s) => n + s.held.length, 0) === expected, { what: `${expected} requests held (seed ${seed})`, timeoutMs: 10_000 })
      expect(shared.now, `seed ${seed}`).toBe(expected)
      expect(limiter.active).toBe(expected)
      for (const server of servers) expect(server.inFlight.now, `seed ${seed}`).toBeLessThanOrEqual(2)
      const before = done
      random.pick(servers.filter((s) => s.held.length > 0)).releaseOne()
      await waitUntil(() => done === before + 1, { what: 'the released fetch to finish', timeoutMs: 10_000 })
    }
    expect(await Promise.all(fetches)).toEqual(new Array(15).fill('3k67up3j7hf2x'))
    expect(shared.max, `seed ${seed}`).toBe(4)
    // Each host up to its limit; which hosts reach it depends on the seeded release order (a host
    // served while the others hold every other slot may only ever have one at a time), but 4
    // requests at once over 3 hosts put 2 on one of them.
    for (const server of servers) expect(server.inFlight.max, `seed ${seed}`).toBeLessThanOrEqual(2)
    expect(Math.max(...servers.map((server) => server.inFlight.max)), `seed ${seed}`).toBe(2)
    expect({ active: limiter.active, waiting: limiter.waiting, hosts: limiter.trackedHosts }).toEqual({ active: 0, waiting: 0, hosts: 0 })
  })
})

describe('FetchLimiter: a bounded wait list (over maxWaiting: refused), aborts leave it, hosts take turns', () => {
  it('refuses the request past maxWaiting with QUEUE_FULL, and grants the waiters in order as slots free', async () => {
    const limiter = new FetchLimiter({ maxConcurrent: 1, maxWaiting: 2 }, new FakeTimers())
    const first = await limiter.acquire('a')
    const order: string[] = []
    const second = limiter.acquire('a').then((slot) => (order.push('second'), slot))
    const third = limiter.acquire('b').then((slot) => (order.push('third'), slot))
    await expect(limiter.acquire('c')).rejects.toMatchObject({ code: RepoSyncErrorCode.QueueFull })
    expect(limiter.waiting).toBe(2)
    first.release()
    ;(await second).release()
    ;(await third).release()
    expect(order).toEqual(['second', 'third'])
    expect(limiter.trackedHosts).toBe(0)
  })

  it('an aborted waiter gives its place up at once and is never granted', async () => {
    const limiter = new FetchLimiter({ maxConcurrent: 1 }, new FakeTimers())
    const first = await limiter.acquire('a')
    const controller = new AbortController()
    const aborted = limiter.acquire('a', controller.signal)
    const next = limiter.acquire('a')
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ code: RepoSyncErrorCode.Aborted })
    expect(limiter.waiting).toBe(1)
    first.release()
    ;(await next).release()
    expect(limiter.active).toBe(0)
  })

  it('hosts are served in turn: a host with many waiters does not starve one with few', async () => {
    const limiter = new FetchLimiter({ maxConcurrent: 1, maxPerHost: 1 }, new FakeTimers())
    const order: string[] = []
    const running = await limiter.acquire('busy')
    const waits = ['busy', 'busy', 'busy', 'quiet'].map((host) =>
      limiter.acquire(host).then((slot) => {
        order.push(host)
        slot.release()
      }),
    )
    running.release()
    await Promise.all(waits)
    expect(order).toEqual(['busy', 'quiet', 'busy', 'busy'])
  })

  it("a pause timer that fires before the clock reaches the pause's end (Node's cached loop time) waits out the rest, then serves the waiters", async () => {
    const clock = new FakeTimers()
    // A long timer fires 5 ms early, as a Node timer started from a stale loop time does against Date.now(); a short one on time.
    const early: Timers = { now: () => clock.now(), setTimeout: (callback, ms) => clock.setTimeout(callback, ms > 10 ? ms - 5 : ms), clearTimeout: (handle) => clock.clearTimeout(handle) }
    const limiter = new FetchLimiter({ maxPerHost: 1 }, early)
    const running = await limiter.acquire('h')
    limiter.pauseHost('h', clock.now() + 1_000)
    let granted: FetchSlot | null = null
    const waiting = limiter.acquire('h').then((slot) => (granted = slot))
    running.release()
    clock.advance(996)
    await Promise.resolve()
    expect(granted, 'still paused').toBeNull()
    clock.advance(4)
    await waiting
    expect(granted).not.toBeNull()
    expect(limiter.pausedUntil('h')).toBeNull()
  })

  it('a pause only grows, is bounded by maxPauseMs, defaults to defaultPauseMs, and is forgotten when it runs out', () => {
    const timers = new FakeTimers()
    const limiter = new FetchLimiter({ defaultPauseMs: 60_000, maxPauseMs: 3_600_000 }, timers)
    const now = timers.now()
    expect(limiter.pauseHost('h', now + 10_000)).toBe(now + 10_000)
    expect(limiter.pauseHost('h', now + 5_000)).toBe(now + 10_000)
    expect(limiter.pauseHost('h', null)).toBe(now + 60_000)
    expect(limiter.pauseHost('h', now + 365 * 86_400_000)).toBe(now + 3_600_000)
    timers.advance(3_600_000)
    expect(limiter.pausedUntil('h')).toBeNull()
    expect(limiter.trackedHosts).toBe(0)
  })
})

describe('429: the host is paused until RateLimit-Reset (epoch seconds) or Retry-After, other hosts go on, and the repo is not blamed (fake clock)', () => {
  let paused: FetchServer
  let other: FetchServer
  const timers = new FakeTimers()
  beforeAll(async () => {
    paused = await FetchServer.start()
    other = await FetchServer.start()
    other.serveCar(did, car)
    let answered = 0
    paused.route(did, (_req, res) => {
      if (answered++ === 0) json(res, 429, { error: 'RateLimitExceeded' }, { 'ratelimit-limit': '10', 'ratelimit-remaining': '0', 'ratelimit-reset': String(Math.floor(timers.now() / 1000) + 30) })
      else res.writeHead(200).end(car)
    })
  })
  afterAll(() => Promise.all([paused.close(), other.close()]))

  it('the next request to the host waits 30 s of fake time; another host is served meanwhile', async () => {
    const { fetcher, limiter, backoff } = testFetcher(paused, timers)
    const resetMs = (Math.floor(timers.now() / 1000) + 30) * 1000
    const err = (await fetcher.fetchRepo(did, { source: paused.url }).catch((e: unknown) => e)) as RepoSyncError
    expect(err).toBeInstanceOf(RepoSyncError)
    expect(err.code).toBe(RepoSyncErrorCode.RateLimited)
    expect(err.fields).toMatchObject({ retryAtMs: resetMs, host: paused.host })
    expect(backoff.retryAtMs(did)).toBeNull()

    let fetched = false
    const waiting = fetcher.fetchRepo(did, { source: paused.url }).then(async (repo) => {
      fetched = true
      await repo.close()
    })
    await (await fetcher.fetchRepo(did, { source: other.url })).close()
    timers.advance(29_999)
    await ioTurns()
    expect({ requests: paused.getRepoCount, waiting: limiter.waiting, fetched }).toEqual({ requests: 1, waiting: 1, fetched: false })
    timers.advance(1)
    await waiting
    expect(paused.getRepoCount).toBe(2)
  })

  it('reset headers: epoch seconds, delta seconds, Retry-After seconds or date, nothing usable', () => {
    const now = Date.UTC(2026, 0, 1)
    expect(rateLimitResetMs({ 'ratelimit-reset': String(now / 1000 + 30) }, now)).toBe(now + 30_000)
    expect(rateLimitResetMs({ 'ratelimit-reset': '30' }, now)).toBe(now + 30_000)
    expect(rateLimitResetMs({ 'retry-after': '120' }, now)).toBe(now + 120_000)
    expect(rateLimitResetMs({ 'retry-after': new Date(now + 5000).toUTCString() }, now)).toBe(now + 5000)
    expect(rateLimitResetMs({ 'ratelimit-reset': 'soon', 'retry-after': 'later' }, now)).toBeNull()
  })
})

describe('a repo that keeps failing waits from seconds up to an hour before it is fetched again, and nothing is sent meanwhile (fake clock, seeded jitter)', () => {
  it('RepoBackoff: waits in [c/2, c], c doubling from initialMs to maxMs; a success forgets the repo; bounded by maxRepos', () => {
    const seed = SeededRandom.freshSeed()
    const timers = new FakeTimers()
    const backoff = new RepoBackoff({ initialMs: 5_000, maxMs: 3_600_000, maxRepos: 2 }, timers, new SeededRandom(seed))
    for (let failure = 1; failure <= 14; failure++) {
      const ceiling = Math.min(3_600_000, 5_000 * 2 ** (failure - 1))
      const wait = backoff.noteFailure('did:a') - timers.now()
      expect(wait, `failure ${failure}, seed ${seed}`).toBeGreaterThanOrEqual(ceiling / 2)
      expect(wait, `failure ${failure}, seed ${seed}`).toBeLessThanOrEqual(ceiling)
      expect(backoff.retryAtMs('did:a')).toBe(timers.now() + wait)
      timers.advance(wait)
      expect(backoff.retryAtMs('did:a')).toBeNull()
    }
    backoff.noteSuccess('did:a')
    expect(backoff.failureCount('did:a')).toBe(0)
    backoff.noteFailure('did:a')
    backoff.noteFailure('did:b')
    backoff.noteFailure('did:c')
    expect(['did:a', 'did:b', 'did:c'].map((d) => backoff.failureCount(d))).toEqual([0, 1, 1])
  })

  it('the fetcher refuses with BACKOFF until the wait runs out, without asking the PDS', async () => {
    const server = await FetchServer.start()
    const timers = new FakeTimers()
    try {
      server.route(did, (_req, res) => json(res, 500, { error: 'InternalServerError' }))
      const { fetcher } = testFetcher(server, timers, { backoff: { initialMs: 5_000, maxMs: 3_600_000 } })
      await expect(fetcher.fetchRepo(did, { source: server.url })).rejects.toMatchObject({ code: RepoSyncErrorCode.HttpStatus })
      const refused = (await fetcher.fetchRepo(did, { source: server.url }).catch((e: unknown) => e)) as RepoSyncError
      expect(refused.code).toBe(RepoSyncErrorCode.Backoff)
      expect(server.getRepoCount).toBe(1)
      timers.advance(refused.fields.retryAtMs! - timers.now())
      server.serveCar(did, car)
      await (await fetcher.fetchRepo(did, { source: server.url })).close()
      expect(server.getRepoCount).toBe(2)
    } finally {
      await server.close()
    }
  })
})

import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { IngestorProcess } from '../../harness/ingestor-process.js'
import { expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { TcpProxy } from '../../harness/tcp-proxy.js'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle } from '../../ingestor/index.js'
import { resolveOptions } from '../../ingestor/options.js'
import { duplicateRelay, relayEndpoints } from '../../ingestor/relay-endpoints.js'
import { FailoverPolicy } from '../../ingestor/relay-failover.js'
import { probeRelay } from '../../ingestor/relay-probe.js'
import { entryFields, type StreamEntry } from '../../protocol/stream-entry.js'
import type { ReplayHandle } from '../../replay/index.js'
import { expectIngestUsageError, loadIngestor, ownRedisForSuite, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture } from './helpers.js'

/** The fallback relay's seqs start here: another seq space than the primary's (1, 2, ...). */
const FALLBACK_BASE = 1_000_000
/** 50 s of frames at RATE: the relays must not run dry before the last test (the file takes ~25 s), however loaded the machine. */
const FRAMES = 15_000
const RATE = 300

describe('FailoverPolicy: when to leave a relay', () => {
  it('moves after N connection attempts in a row without a frame; a connection with frames resets the count', () => {
    const policy = new FailoverPolicy(2, 3)
    expect(policy.connectionEnded(false, false)).toBeNull()
    expect(policy.connectionEnded(false, false)).toBeNull()
    expect(policy.connectionEnded(true, false)).toBeNull() // delivered frames: the count starts again
    expect(policy.connectionEnded(false, false)).toBeNull()
    expect(policy.connectionEnded(false, false)).toBeNull()
    expect(policy.connectionEnded(false, false)).toBe('3 failed connects in a row')
    expect(policy.next).toBe(1)
    policy.moveTo(1)
    expect(policy.next).toBe(0) // wraps round to the primary
    expect(policy.connectionEnded(false, false)).toBeNull() // a fresh count on the new relay
  })

  it('moves at once on a stall, even after frames', () => {
    const policy = new FailoverPolicy(3, 5)
    expect(policy.connectionEnded(true, true)).toBe('stalled')
    policy.moveTo(2)
    expect(policy.next).toBe(0)
  })

  it('never moves with a single relay', () => {
    const policy = new FailoverPolicy(1, 1)
    for (let i = 0; i < 5; i++) expect(policy.connectionEnded(false, i % 2 === 0)).toBeNull()
    expect(policy.index).toBe(0)
  })
})

describe('relay list and cursor keys', () => {
  const a = 'wss://relay-a.example/xrpc/com.atproto.sync.subscribeRepos'
  const b = 'ws://127.0.0.1:2470/xrpc/com.atproto.sync.subscribeRepos'

  it('the primary keeps the cursor key; every other relay gets <cursor key>:<host[:port]>', () => {
    expect(relayEndpoints([a, b], 'firehose:cursor')).toEqual([
      { url: a, label: 'relay-a.example', cursorKey: 'firehose:cursor' },
      { url: b, label: '127.0.0.1:2470', cursorKey: 'firehose:cursor:127.0.0.1:2470' },
    ])
    expect(duplicateRelay([a, b])).toBeNull()
    expect(duplicateRelay([a, b, 'wss://RELAY-A.example/other/path'])).toBe('relay-a.example')
  })

  it('library options: relayUrl keeps working, relayUrls lists relays; both, none, duplicates or a bad value are refused', () => {
    expect(resolveOptions({ relayUrl: a, redisUrl: 'redis://x' }).relays).toHaveLength(1)
    const resolved = resolveOptions({ relayUrls: [a, b], redisUrl: 'redis://x', cursorKey: 'c' })
    expect([resolved.relayUrl, resolved.relays[1]!.cursorKey, resolved.failoverAfter, resolved.primaryProbeIntervalMs]).toEqual([a, 'c:127.0.0.1:2470', 3, 30_000])
    for (const bad of [{ relayUrl: a, relayUrls: [b] }, {}, { relayUrls: [] }, { relayUrls: [a, a] }, { relayUrls: ['http://x'] }, { relayUrls: [a, b], failoverAfter: 0 }]) {
      expect(() => resolveOptions({ redisUrl: 'redis://x', ...bad })).toThrow(expect.objectContaining({ code: 'INGESTOR_INVALID_OPTION' }))
    }
  })
})

describe('CLI relay flags', () => {
  // Option checks: each a CLI start that exits before connecting, sharing nothing: concurrent.
  it.concurrent.for([
    [['--relay', 'ws://127.0.0.1:1', '--relay', 'ws://127.0.0.1:1/xrpc/com.atproto.sync.subscribeRepos'], {}, /relay 127\.0\.0\.1:1 is given twice/],
    [['--relay', 'ws://127.0.0.1:1,ws://127.0.0.1:1'], {}, /given twice/],
    [[], { RELAY_URL: 'ws://127.0.0.1:1,,ws://127.0.0.1:2' }, /without empty items/],
    [[], { RELAY_URL: 'ws://127.0.0.1:1,ftp://relay.example' }, /RELAY_URL|ws: or wss:/],
    [['--relay', 'ws://127.0.0.1:1', '--relay', 'not-a-relay'], {}, /not a relay/],
    [['--relay', 'ws://127.0.0.1:1', '--failover-after', '0'], {}, /--failover-after/],
    [['--relay', 'ws://127.0.0.1:1'], { FIREHOSE_PRIMARY_PROBE_INTERVAL: '-3' }, /--primary-probe-interval/],
  ] as const)('%j %j: exit 2 and one line', async ([args, env, reason], { expect }) => {
    await expectIngestUsageError(args, env, reason, expect)
  })
})

describe('relay failover against two replay servers, a TCP proxy and redis-server', () => {
  const temp = tempDir()
  const own = ownRedisForSuite()
  let primaryFixture: string
  let fallbackFixture: string
  let primary: ReplayHandle
  let fallback: ReplayHandle
  let proxy: TcpProxy
  beforeAll(async () => {
    primaryFixture = await writeFixture(join(temp.dir, 'primary.fixture.gz'), sequencedRealFrames(FRAMES, 1))
    fallbackFixture = await writeFixture(join(temp.dir, 'fallback.fixture.gz'), sequencedRealFrames(FRAMES, FALLBACK_BASE + 1))
    primary = await replay([primaryFixture], { rate: { mode: 'rate', eventsPerSec: RATE } })
    fallback = await replay([fallbackFixture], { rate: { mode: 'rate', eventsPerSec: RATE } })
    const target = new URL(primary.url)
    proxy = await TcpProxy.start({ upstream: { host: target.hostname, port: Number(target.port) } })
  })
  afterAll(async () => {
    await proxy?.close()
    await primary?.close()
    await fallback?.close()
    temp.cleanup()
  })

  it.each([
    ['stall', 'a stalled primary (open, silent)'],
    ['refuse', 'a primary refusing connections'],
  ] as const)(
    '%s: %s -> fallback -> primary healthy again -> back; exactly once per relay, each relay its own cursor key',
    async (failure, _description) => {
      const seed = Number(process.env.FAILOVER_SEED ?? Date.now() % 1_000_000)
      const random = new SeededRandom(seed)
      console.log(`relay failover (${failure}) seed ${seed} (FAILOVER_SEED=${seed} reproduces the switch points)`)
      const keys = uniqueKeys('test:relay-failover')
      const primaryUrl = proxy.proxiedUrl(primary.url)
      const primaryLabel = new URL(primaryUrl).host
      const fallbackLabel = new URL(fallback.url).host
      const fallbackKey = `${keys.cursorKey}:${fallbackLabel}`
      await own.admin.set(keys.cursorKey, String(random.int(0, 200))) // the primary resumes from a stored cursor
      const startCursor = Number(await own.admin.get(keys.cursorKey))
      // A cursor beyond the head would be FutureCursor (a live-tail restart), another test.
      await waitUntil(() => (primary.status().headSeq ?? 0) > startCursor, { what: `the primary's head past ${startCursor}`, timeoutMs: 30_000 })
      const { startIngestor } = await loadIngestor()
      const handle: IngestorHandle = await startIngestor({
        relayUrls: [primaryUrl, fallback.url],
        redisUrl: own.redis.url,
        stream: keys.stream,
        cursorKey: keys.cursorKey,
        statusIntervalMs: 0,
        stallTimeoutMs: 2000,
        failoverAfter: 2,
        primaryProbeIntervalMs: 300,
        relayBackoff: { initialMs: 50, maxMs: 200 },
        batchSize: 50,
      })
      const cursorOf = async (key: string): Promise<number> => Number((await own.admin.get(key)) ?? -1)
      const timings: Record<string, number> = {}
      const redisPid = Number(/process_id:(\d+)/.exec(await own.admin.info('server'))?.[1])
      let redisStopped = false
      try {
        for (let round = 1; round <= 2; round++) {
          // On the primary, and it writes.
          const primaryFrom = await cursorOf(keys.cursorKey)
          const primaryWrites = random.int(50, 250)
          await waitUntil(async () => handle.status().relay.active === primaryLabel && (await cursorOf(keys.cursorKey)) >= primaryFrom + primaryWrites, {
            what: `round ${round}: ${primaryWrites} seqs from the primary`,
            timeoutMs: 60_000,
            state: () => handle.status(),
          })
          // Round 1: Redis hangs (SIGSTOP) as the primary fails, so the primary's frames are still
          // queued at the switch; they must be dropped, never written against the fallback's cursor.
          const requeued = handle.status().counters.framesRequeued
          if (round === 1) {
            process.kill(redisPid, 'SIGSTOP')
            redisStopped = true
            await waitUntil(() => handle.status().queue.frames > 0, { what: 'primary frames queued behind the stopped Redis', timeoutMs: 30_000, state: () => handle.status() })
          }
          // The primary fails; the ingestor moves to the fallback and writes from it.
          const failedAt = Date.now()
          if (failure === 'stall') proxy.stall()
          else proxy.disable()
          if (round === 1) {
            await waitUntil(() => handle.status().counters.framesRequeued > requeued, { what: "the switch dropping the primary's queued frames", timeoutMs: 30_000, state: () => handle.status() })
            process.kill(redisPid, 'SIGCONT')
            redisStopped = false
          }
          await waitUntil(() => handle.status().relay.active === fallbackLabel, { what: `round ${round}: the switch to the fallback`, timeoutMs: 60_000, state: () => handle.status() })
          timings[`failover${round}Ms`] = Date.now() - failedAt
          const fallbackFrom = await cursorOf(fallbackKey)
          const fallbackWrites = random.int(50, 250)
          await waitUntil(async () => (await cursorOf(fallbackKey)) >= Math.max(fallbackFrom, FALLBACK_BASE) + fallbackWrites, {
            what: `round ${round}: ${fallbackWrites} seqs from the fallback`,
            timeoutMs: 60_000,
            state: () => handle.status(),
          })
          // The primary heals; the probe finds it and the ingestor goes back.
          const healedAt = Date.now()
          proxy.reset()
          await waitUntil(() => handle.status().relay.active === primaryLabel && handle.status().relay.primaryReturns >= round, {
            what: `round ${round}: the return to the primary`,
            timeoutMs: 60_000,
            state: () => handle.status(),
          })
          timings[`back${round}Ms`] = Date.now() - healedAt
        }
        const endAt = (await cursorOf(keys.cursorKey)) + 50
        await waitUntil(async () => (await cursorOf(keys.cursorKey)) >= endAt, { what: 'the primary writing after the last return', timeoutMs: 60_000, state: () => handle.status() })
        await handle.stop()
        console.log(`relay failover (${failure}) seed ${seed}: ${JSON.stringify({ ...timings, relay: handle.status().relay, requeued: handle.status().counters.framesRequeued })}`)

        const status = handle.status()
        expect(status.stoppedBy).toBe('stop')
        expect(status.relay.failovers).toBeGreaterThanOrEqual(2)
        expect(status.relay.primaryReturns).toBeGreaterThanOrEqual(2)
        const streamed = (await own.admin.xrange(keys.stream, '-', '+')).map(([, fields]) => fields)
        const fromPrimary = streamed.filter((fields) => Number(fields[5]) <= FALLBACK_BASE)
        const fromFallback = streamed.filter((fields) => Number(fields[5]) > FALLBACK_BASE)
        expect(fromPrimary.length + fromFallback.length).toBe(streamed.length)
        // Each relay's cursor key holds the last seq written from it, nothing of the other relay's.
        const primaryCursor = await cursorOf(keys.cursorKey)
        const fallbackCursor = await cursorOf(fallbackKey)
        expect(Number(fromPrimary.at(-1)![5])).toBe(primaryCursor)
        expect(Number(fromFallback.at(-1)![5])).toBe(fallbackCursor)
        // The primary: every seq after the stored start cursor up to its cursor, once, in order.
        expectRun(fromPrimary, await expectedEntriesFromFixture(primaryFixture), startCursor + 1, primaryCursor)
        // The fallback had no stored cursor: it started at its live tail, then resumed from its own cursor.
        expectRun(fromFallback, await expectedEntriesFromFixture(fallbackFixture), Number(fromFallback[0]![5]), fallbackCursor)
      } finally {
        if (redisStopped) process.kill(redisPid, 'SIGCONT')
        await handle.stop()
        proxy.reset()
        await own.admin.del(keys.stream, keys.cursorKey, fallbackKey, keys.dead)
      }
    },
    180_000,
  )

  it('CLI: --relay twice; a primary that refuses connections -> the fallback after --failover-after, logged with the reason; the primary key untouched', async () => {
    const keys = uniqueKeys('test:relay-failover-cli')
    const fallbackKey = `${keys.cursorKey}:${new URL(fallback.url).host}`
    const fallbackFrom = FALLBACK_BASE + 100
    await own.admin.set(fallbackKey, String(fallbackFrom)) // a fallback with a stored cursor resumes from it
    proxy.disable()
    const child = IngestorProcess.start({
      relayUrl: proxy.proxiedUrl(primary.url),
      redisUrl: own.redis.url,
      stream: keys.stream,
      cursorKey: keys.cursorKey,
      args: ['--relay', fallback.url, '--failover-after', '2', '--status-interval', '60'],
    })
    try {
      const switched = await child.waitForLog((record) => record.msg === 'relay failover: moving to the next relay', 60_000, 'the failover log line')
      expect(switched).toMatchObject({ from: new URL(proxy.proxiedUrl(primary.url)).host, to: new URL(fallback.url).host, reason: expect.stringMatching(/2 failed connects in a row/), cursorKey: fallbackKey })
      expect(switched.cursor).toBe(fallbackFrom)
      await waitUntil(async () => Number(await own.admin.get(fallbackKey)) > fallbackFrom, { what: 'a write from the fallback', timeoutMs: 60_000 })
      expect(await child.stop()).toMatchObject({ code: 0 })
      expect(await own.admin.get(keys.cursorKey)).toBeNull()
      const seqs = (await own.admin.xrange(keys.stream, '-', '+')).map(([, fields]) => Number(fields[5]))
      expect(seqs[0]).toBe(fallbackFrom + 1)
      expect(seqs.at(-1)).toBe(Number(await own.admin.get(fallbackKey)))
    } finally {
      proxy.enable()
      await child.stop()
      await own.admin.del(keys.stream, keys.cursorKey, fallbackKey, keys.dead)
    }
  }, 120_000)

  it('probe: healthy when a frame arrives; not when the relay refuses, is silent or is down', async () => {
    expect(await probeRelay(fallback.url, FALLBACK_BASE, 5_000, 16 << 20)).toEqual({ ok: true, detail: 'delivered a frame' })
    proxy.stall()
    try {
      expect((await probeRelay(proxy.proxiedUrl(primary.url), null, 500, 16 << 20)).ok).toBe(false)
    } finally {
      proxy.unstall()
    }
    proxy.disable()
    try {
      expect((await probeRelay(proxy.proxiedUrl(primary.url), null, 5_000, 16 << 20)).ok).toBe(false)
    } finally {
      proxy.enable()
    }
    const silent = await replay([primaryFixture], { start: 'paused' })
    try {
      expect(await probeRelay(silent.url, null, 500, 16 << 20)).toEqual({ ok: false, detail: 'no frame within 500 ms' })
    } finally {
      await silent.close()
    }
  })
})

/** `stream` (one relay's entries, in stream order) is exactly the fixture's entries with seq in [from, to], each once. */
function expectRun(stream: string[][], fixture: readonly StreamEntry[], from: number, to: number): void {
  const want = fixture.filter((entry) => entry.seq >= from && entry.seq <= to)
  expect(stream.map((fields) => Number(fields[5]))).toEqual(want.map((entry) => entry.seq))
  expect(stream).toEqual(want.map((entry) => [...entryFields(entry)]))
}

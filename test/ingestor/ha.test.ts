import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil } from '../../harness/wait.js'
import type { IngestorHandle, IngestorOptions } from '../../ingestor/index.js'
import { resolveOptions } from '../../ingestor/options.js'
import type { ReplayHandle } from '../../replay/index.js'
import { committedFixture, expectIngestUsageError, loadIngestor, ownRedisForSuite, replay, uniqueKeys } from './helpers.js'
import { parsePrometheus, sample } from './prometheus-text.js'

/** fixtures/README.md: the committed fixture ends at this seq. */
const LAST_SEQ = 20_000_001_500

describe('firehose ingest --ha flags', () => {
  // Option checks: each a CLI start that exits before connecting, sharing nothing: concurrent.
  it.concurrent.for([
    [['--lease-ttl', '0.2'], {}, /--lease-ttl must be at least 0\.5 s, got 0\.2/],
    [['--lease-ttl', 'soon'], {}, /--lease-ttl/],
    [['--lease-ttl', '601'], {}, /--lease-ttl/],
    [[], { FIREHOSE_LEASE_TTL: '-1' }, /--lease-ttl/],
    [['--lease-key', ''], {}, /--lease-key/],
    [['--cursor-key', 'c', '--lease-key', 'c'], {}, /--lease-key c must differ from the stream and cursor keys/],
  ] as const)('rejects %j %j with exit 2 and a one-line reason, before connecting', async ([args, env, reason], { expect }) => {
    await expectIngestUsageError(['--ha', ...args], env, reason, expect)
  })
})

describe('resolveOptions: HA options', () => {
  const base = { relayUrl: 'ws://relay.example', redisUrl: 'redis://127.0.0.1:1' }
  it('defaults the lease key to <cursorKey>:lease and the ttl to 5 s; HA is off by default', () => {
    expect(resolveOptions({ ...base, cursorKey: 'k' })).toMatchObject({ ha: false, leaseKey: 'k:lease', leaseTtlMs: 5_000 })
  })
  it.each([
    [{ leaseKey: '' }, /leaseKey must not be empty/],
    [{ leaseKey: 'firehose:events' }, /leaseKey must differ/],
    [{ leaseKey: 'firehose:cursor' }, /leaseKey must differ/],
    // A fallback relay's cursor key (relay failover): `<cursorKey>:<host[:port]>`.
    [{ relayUrl: undefined, relayUrls: ['ws://relay.example', 'ws://lease'] }, /leaseKey must differ/],
    [{ leaseTtlMs: 499 }, /leaseTtlMs must be an integer from 500 to 600000/],
    [{ leaseTtlMs: 600_001 }, /leaseTtlMs must be an integer from 500 to 600000/],
  ])('rejects %j', (extra, reason) => {
    expect(() => resolveOptions({ ...base, ...extra })).toThrow(reason)
  })
})

// Two library ingestors on one stream (real redis-server, real replay relay): one writes, one waits.
describe('HA standby: status, /ready, /health, /metrics, and takeover on a graceful stop', () => {
  const suite = ownRedisForSuite()
  let relay: ReplayHandle
  beforeAll(async () => {
    // Slow enough that the leader is still writing when it is stopped.
    relay = await replay([committedFixture], { rate: { mode: 'rate', eventsPerSec: 300 }, start: 'first-client', seed: 11 })
  })
  afterAll(async () => {
    await relay?.close()
  })

  async function start(keys: ReturnType<typeof uniqueKeys>, extra: Partial<IngestorOptions> = {}): Promise<IngestorHandle> {
    const { startIngestor } = await loadIngestor()
    return startIngestor({
      relayUrl: relay.url,
      redisUrl: suite.redis.url,
      stream: keys.stream,
      cursorKey: keys.cursorKey,
      statusIntervalMs: 0,
      healthPort: 0,
      healthHost: '127.0.0.1',
      ha: true,
      leaseTtlMs: 1000,
      ...extra,
    })
  }

  const probe = async (port: number, path: string): Promise<{ status: number; body: { reasons: string[]; state: string } }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: res.status, body: (await res.json()) as { reasons: string[]; state: string } }
  }
  const leaderGauge = async (port: number): Promise<number | undefined> => sample(parsePrometheus(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()), 'firehose_leader')

  it('the second waits as a standby (503 "standby (leader <token>)", 200 on /health, firehose_leader 0) and takes over when the leader stops', async () => {
    const keys = uniqueKeys('test:ha')
    const a = await start(keys)
    let b: IngestorHandle | null = null
    try {
      await waitUntil(() => a.status().state === 'running' && a.status().storedCursor !== null, { what: 'a to lead and write', timeoutMs: 30_000 })
      const token = await suite.admin.get(`${keys.cursorKey}:lease`)
      expect(a.status().lease).toEqual({ held: true, holder: token })
      expect(await leaderGauge(a.healthPort!)).toBe(1)

      b = await start(keys)
      await waitUntil(() => b!.status().lease?.holder === token, { what: 'b to see the leader', timeoutMs: 30_000 })
      expect(b.status()).toMatchObject({ state: 'standby', storedCursor: null, lease: { held: false, holder: token } })
      expect(await probe(b.healthPort!, '/ready')).toMatchObject({ status: 503, body: { reasons: [`standby (leader ${token})`], state: 'standby' } })
      expect((await probe(b.healthPort!, '/health')).status).toBe(200)
      expect(await leaderGauge(b.healthPort!)).toBe(0)
      expect(b.status().relay.connects).toBe(0) // a standby does not subscribe

      // Graceful stop: a drains, releases the lease; b takes over from a's cursor at once.
      await a.stop()
      expect(a.status().stoppedBy).toBe('stop')
      const handedOver = a.status().storedCursor!
      await waitUntil(() => b!.status().state === 'running', { what: 'b to take over', timeoutMs: 30_000 })
      expect(b.status().lease?.held).toBe(true)
      expect(await suite.admin.get(`${keys.cursorKey}:lease`)).toBe(b.status().lease?.holder)
      await waitUntil(() => (b!.status().storedCursor ?? 0) >= LAST_SEQ, { what: 'b to write the rest', timeoutMs: 60_000 })
      expect(handedOver).toBeLessThan(LAST_SEQ)
      expect(b.status().counters.casMismatches).toBe(0) // one writer at a time: no fencing needed
      await b.stop()
      expect(await suite.admin.exists(`${keys.cursorKey}:lease`)).toBe(0)
      const seqs = (await suite.admin.xrange(keys.stream, '-', '+')).map(([, fields]) => Number(fields[5]))
      expect(seqs.length).toBe(new Set(seqs).size)
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y))
      expect(seqs.at(-1)).toBe(LAST_SEQ)
    } finally {
      await a.stop()
      await b?.stop()
    }
  }, 120_000)

  it('a standby stopped before it ever leads exits cleanly and leaves the leader alone', async () => {
    const keys = uniqueKeys('test:ha')
    await suite.admin.set(`${keys.cursorKey}:lease`, 'other-host:1:abcd', 'PX', 60_000)
    const b = await start(keys)
    await waitUntil(() => b.status().state === 'standby' && b.status().lease?.holder === 'other-host:1:abcd', { what: 'b to wait as a standby', timeoutMs: 30_000 })
    await b.stop()
    expect(b.status()).toMatchObject({ state: 'stopped', stoppedBy: 'stop' })
    expect(await suite.admin.get(`${keys.cursorKey}:lease`)).toBe('other-host:1:abcd')
    expect(await suite.admin.exists(keys.cursorKey)).toBe(0)
  }, 60_000)
})

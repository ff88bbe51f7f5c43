import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { waitUntil } from '../../harness/wait.js'
import { Lease } from '../../ingestor/lease.js'
import { ownRedisForSuite, uniqueKeys } from './helpers.js'

const TTL_MS = 600

// Lease (ingestor/lease.ts) against a real redis-server: two holders, renewal, loss, release.
describe('HA lease', () => {
  const suite = ownRedisForSuite()
  const opened: { redis: Redis; lease: Lease }[] = []

  /** A lease on its own connection, configured like the sink's (no offline queue: commands fail while Redis is down). */
  function lease(key: string, onLost?: (reason: string) => void): Lease {
    const redis = new Redis(suite.redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 })
    redis.on('error', () => {}) // refused connections while Redis is killed: expected
    const made = new Lease(redis, { key, ttlMs: TTL_MS, ...(onLost !== undefined ? { onLost } : {}) }, silentLogger)
    opened.push({ redis, lease: made })
    return made
  }

  /**
   * What Redis does to `key`, from its keyspace notifications (enabled here: the suite's own
   * server): 'expire' per PEXPIRE, i.e. per renewal, and 'expired' if the key ran out.
   */
  async function keyEvents(key: string): Promise<{ events: string[]; close: () => Promise<void> }> {
    await suite.admin.config('SET', 'notify-keyspace-events', 'Kgx')
    const subscriber = new Redis(suite.redis.url)
    const events: string[] = []
    subscriber.on('pmessage', (_pattern: string, _channel: string, event: string) => events.push(event))
    await subscriber.psubscribe(`__keyspace@*__:${key}`)
    return {
      events,
      close: async () => {
        subscriber.disconnect()
        await suite.admin.config('SET', 'notify-keyspace-events', '')
      },
    }
  }

  const ready = (l: Lease): Promise<void> => {
    const { redis } = opened.find((o) => o.lease === l)!
    return redis.status === 'ready' ? Promise.resolve() : new Promise((resolve) => redis.once('ready', () => resolve()))
  }

  /** A lease on a fresh key, acquired, recording why it is lost. */
  async function acquiredLease(): Promise<{ key: string; a: Lease; lost: string[] }> {
    const key = `${uniqueKeys().cursorKey}:lease`
    const lost: string[] = []
    const a = lease(key, (reason) => lost.push(reason))
    await ready(a)
    expect(await a.acquire(() => false)).toBe(true)
    return { key, a, lost }
  }

  afterEach(async () => {
    for (const { redis, lease: l } of opened.splice(0)) {
      await l.release()
      redis.disconnect()
    }
  })

  it('one holder at a time: the second waits as a standby, sees the leader, and takes over after release', async () => {
    const key = `${uniqueKeys().cursorKey}:lease`
    const a = lease(key)
    const b = lease(key)
    await Promise.all([ready(a), ready(b)])
    expect(await a.acquire(() => false)).toBe(true)
    expect(a.held).toBe(true)
    expect(await suite.admin.get(key)).toBe(a.token)

    let stopB = false
    const watch = await keyEvents(key)
    const bAcquired = b.acquire(() => stopB)
    await waitUntil(() => b.holder === a.token, { what: 'b to see a as the leader', timeoutMs: 10_000 })
    expect(b.held).toBe(false)
    // Renewed every ttl/3: 4 renewals seen span a whole ttl (timers never fire early), past the
    // ttl the key had when watching began. The key never ran out, and it is still a's.
    try {
      await waitUntil(() => watch.events.filter((event) => event === 'expire').length >= 4, { what: "4 renewals of a's lease", timeoutMs: 10_000 })
    } finally {
      await watch.close()
    }
    expect(watch.events).not.toContain('expired')
    expect(a.held).toBe(true)
    expect(b.held).toBe(false)
    expect(await suite.admin.get(key)).toBe(a.token)
    expect(Number(await suite.admin.pttl(key))).toBeGreaterThan(0)

    await a.release()
    expect(a.held).toBe(false)
    expect(await bAcquired).toBe(true)
    expect(b.held).toBe(true)
    expect(await suite.admin.get(key)).toBe(b.token)
    stopB = true
  }, 30_000)

  it('a cancelled standby returns false and holds nothing', async () => {
    const key = `${uniqueKeys().cursorKey}:lease`
    await suite.admin.set(key, 'someone-else', 'PX', 60_000)
    const b = lease(key)
    await ready(b)
    let cancelled = false
    const result = b.acquire(() => cancelled)
    await waitUntil(() => b.holder === 'someone-else', { what: 'b to see the other leader', timeoutMs: 10_000 })
    cancelled = true
    expect(await result).toBe(false)
    expect(b.held).toBe(false)
    expect(await suite.admin.get(key)).toBe('someone-else')
  }, 30_000)

  it('a renewal that finds another holder loses the lease at once, and release() leaves the other holder alone', async () => {
    const { key, a, lost } = await acquiredLease()
    await suite.admin.set(key, 'usurper', 'PX', 60_000)
    await waitUntil(() => lost.length > 0, { what: 'a to notice the takeover', timeoutMs: 10_000 })
    expect(lost).toEqual(['taken over by usurper'])
    expect(a.held).toBe(false)
    expect(a.holder).toBe('usurper')
    await a.release()
    expect(await suite.admin.get(key)).toBe('usurper')
  }, 30_000)

  it('a lease that expired in Redis (nobody holds it) is lost, not silently re-taken', async () => {
    const { key, lost } = await acquiredLease()
    await suite.admin.del(key)
    await waitUntil(() => lost.length > 0, { what: 'a to notice the expiry', timeoutMs: 10_000 })
    expect(lost).toEqual(['the lease expired in Redis'])
    expect(await suite.admin.exists(key)).toBe(0)
  }, 30_000)

  it('works with the least-privilege ACL of docs/ingestor.md (EVALSHA and SCRIPT LOAD, no EVAL)', async () => {
    await suite.admin.call('ACL', 'SETUSER', 'lease-acl', 'on', '>lease-pass', '~test:lease-acl*', '+@read', '+@write', '+@stream', '+@connection', '-@dangerous', '+evalsha', '+script|load', '+info')
    await suite.admin.script('FLUSH') // the first call must load the script itself
    const url = new URL(suite.redis.url)
    url.username = 'lease-acl'
    url.password = 'lease-pass'
    const redis = new Redis(url.toString(), { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    const a = new Lease(redis, { key: 'test:lease-acl:lease', ttlMs: TTL_MS }, silentLogger)
    opened.push({ redis, lease: a })
    await ready(a)
    expect(await a.acquire(() => false)).toBe(true)
    await a.release()
    expect(await suite.admin.exists('test:lease-acl:lease')).toBe(0)
  }, 30_000)

  // Last: it kills the suite's Redis (restarted at the end for afterAll).
  it('Redis unreachable for longer than the ttl: the lease is lost by the local clock', async () => {
    const { a, lost } = await acquiredLease()
    suite.admin.on('error', () => {}) // refused while Redis is killed: expected
    await suite.redis.kill()
    try {
      await waitUntil(() => lost.length > 0, { what: 'a to give up the lease', timeoutMs: 10_000 })
      expect(lost).toEqual(['not renewed within the ttl'])
      expect(a.held).toBe(false)
    } finally {
      await suite.redis.restart()
    }
  }, 30_000)
})

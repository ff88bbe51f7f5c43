import { describe, expect, it, onTestFailed } from 'vitest'
import { keyLayout } from '../../common/key-layout.js'
import { SeededRandom } from '../../common/random.js'
import type { StoredDidKey } from '../../ingestor/verify/did-key-store.js'
import { didKeyCacheKeys, RedisDidKeyStore } from '../../ingestor/verify/redis-did-key-store.js'
import { ownRedisForSuite, uniqueKeys } from './helpers.js'

const NOW = Date.UTC(2025, 0, 1)

function entry(i: number, expiresAtMs: number, kind: 'key' | 'unresolved' = 'key'): StoredDidKey {
  const did = `did:plc:${String(i).padStart(24, 'a')}`
  return { did, found: kind === 'key' ? { kind, multikey: `zQ3shkey${i}` } : { kind, reason: `answered 404 (${i})` }, fetchedAtMs: NOW, expiresAtMs }
}

describe('the shared DID cache in Redis (real redis-server)', () => {
  const suite = ownRedisForSuite()
  const store = (maxEntries: number, keepMs = 86_400_000): { store: RedisDidKeyStore; keys: ReturnType<typeof didKeyCacheKeys> } => {
    const keys = didKeyCacheKeys(keyLayout(1, false), uniqueKeys('test:did-cache').stream)
    return { store: new RedisDidKeyStore(suite.admin, { keys, maxEntries, keepMs }), keys }
  }

  describe('bounded: at most maxEntries after every write; the entries closest to expiry are evicted first (a "no document" answer before any key, then the key fetched longest ago), so evicting needs no write on reads', () => {
    it('keeps the entries that expire last, hash and index in step', async () => {
      const seed = 4242
      onTestFailed(() => console.log(`seed ${seed}`))
      const random = new SeededRandom(seed)
      const { store: bounded, keys } = store(50)
      const written: StoredDidKey[] = []
      for (let round = 0; round < 10; round++) {
        const batch = Array.from({ length: random.int(1, 40) }, (_, i) => entry(round * 100 + i, NOW + random.int(1_000, 1_000_000), random.bool(0.2) ? 'unresolved' : 'key'))
        await bounded.write(batch, [], NOW)
        written.push(...batch)
        const [count, indexed] = await Promise.all([suite.admin.hlen(keys.entries), suite.admin.zcard(keys.expiry)])
        expect(count).toBe(Math.min(50, written.length))
        expect(indexed).toBe(count)
      }
      const kept = written
        .sort((a, b) => b.expiresAtMs - a.expiresAtMs)
        .slice(0, 50)
        .map((e) => e.did)
      expect((await suite.admin.hkeys(keys.entries)).sort()).toEqual(kept.sort())
      const read = await bounded.read(written.map((e) => e.did))
      expect(read.filter((e) => e !== null).map((e) => e.did)).toEqual(written.filter((e) => kept.includes(e.did)).map((e) => e.did))
      expect(read.find((e) => e !== null)).toEqual(written.find((e) => kept.includes(e.did)))
    })

    it('a bound lowered between runs is reached 1,000 evictions per write (each call stays short)', async () => {
      const { store: big, keys } = store(5_000)
      await big.write(
        Array.from({ length: 2_500 }, (_, i) => entry(i, NOW + 10_000 + i)),
        [],
        NOW,
      )
      const small = new RedisDidKeyStore(suite.admin, { keys, maxEntries: 10, keepMs: 86_400_000 })
      await small.write([entry(9_999, NOW + 50_000)], [], NOW)
      expect(await suite.admin.hlen(keys.entries)).toBe(2_501 - 1_001)
      await small.write([], ['did:plc:nothing'], NOW)
      expect(await suite.admin.hlen(keys.entries)).toBe(1_500 - 1_001)
      await small.write([], ['did:plc:nothing'], NOW)
      expect(await suite.admin.hlen(keys.entries)).toBe(10)
      expect(await suite.admin.hexists(keys.entries, entry(9_999, 0).did)).toBe(1)
    })
  })

  describe('TTL: an expired entry is removed by the next write; both keys expire keepMs after the last write, so a cache no ingestor uses any more leaves Redis', () => {
    it('drops expired entries and sets PEXPIRE on both keys', async () => {
      const { store: ttl, keys } = store(100, 3_600_000)
      await ttl.write([entry(1, NOW + 1_000), entry(2, NOW + 5_000)], [], NOW)
      expect(await suite.admin.hlen(keys.entries)).toBe(2)
      await ttl.write([entry(3, NOW + 9_000)], [], NOW + 2_000)
      expect((await suite.admin.hkeys(keys.entries)).sort()).toEqual([entry(2, 0).did, entry(3, 0).did])
      for (const key of [keys.entries, keys.expiry]) {
        const pttl = await suite.admin.pttl(key)
        expect(pttl).toBeGreaterThan(3_500_000)
        expect(pttl).toBeLessThanOrEqual(3_600_000)
      }
    })
  })

  describe('forget (an #identity event) deletes the DID from the hash and the index', () => {
    it('deletes, and an entry in the same write wins over a forget of it', async () => {
      const { store: forgetting, keys } = store(100)
      await forgetting.write([entry(1, NOW + 1_000), entry(2, NOW + 1_000)], [], NOW)
      await forgetting.write([entry(2, NOW + 2_000)], [entry(1, 0).did, entry(2, 0).did], NOW)
      expect(await suite.admin.hkeys(keys.entries)).toEqual([entry(2, 0).did])
      expect(await suite.admin.zrange(keys.expiry, 0, -1, 'WITHSCORES')).toEqual([entry(2, 0).did, String(NOW + 2_000)])
    })
  })

  describe('a value this code did not write (another version, damaged) reads as absent: it is fetched again and replaced', () => {
    it('reads null for garbage', async () => {
      const { store: reading, keys } = store(100)
      await suite.admin.hset(keys.entries, 'did:plc:garbage', 'not json', 'did:plc:other', '{"fetchedAt":1,"expiresAt":2}')
      expect(await reading.read(['did:plc:garbage', 'did:plc:other', 'did:plc:absent'])).toEqual([null, null, null])
    })
  })
})

describe('key names: <stream>:did-keys and <stream>:did-keys:expiry, with the stream as hash tag when the layout is tagged (shards, cluster), so the one script touches one slot', () => {
  it('names them', () => {
    expect(didKeyCacheKeys(keyLayout(1, false), 'firehose:events')).toEqual({ entries: 'firehose:events:did-keys', expiry: 'firehose:events:did-keys:expiry' })
    expect(didKeyCacheKeys(keyLayout(1, true), 'firehose:events')).toEqual({ entries: 'firehose:events:did-keys:{firehose:events}', expiry: 'firehose:events:did-keys:expiry:{firehose:events}' })
    expect(didKeyCacheKeys(keyLayout(4, false), 'firehose:events').entries).toBe('firehose:events:did-keys:{firehose:events}')
  })
})

import { Secp256k1Keypair } from '@atproto/crypto'
import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { emptyCounters } from '../../ingestor/status.js'
import { capturingLogger } from '../support/capturing-logger.js'
import type { DidKeyStore, StoredDidKey } from '../../ingestor/verify/did-key-store.js'
import { SharedDidCache } from '../../ingestor/verify/shared-did-cache.js'
import { parseSigningKey } from '../../protocol/signing-key.js'
import { FakeTimers } from '../support/fake-timers.js'

/** Lets the promise callbacks and the cache's end-of-turn flush run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** A DidKeyStore in memory that records its calls; `answer` decides when (and whether) a call is answered. */
class RecordingStore implements DidKeyStore {
  readonly entries = new Map<string, StoredDidKey>()
  readonly calls: string[] = []
  answer: () => Promise<void> = async () => {}

  async read(dids: readonly string[]): Promise<(StoredDidKey | null)[]> {
    this.calls.push(`read ${dids.join(',')}`)
    await this.answer()
    return dids.map((did) => this.entries.get(did) ?? null)
  }

  async write(entries: readonly StoredDidKey[], forget: readonly string[]): Promise<void> {
    this.calls.push(`write ${entries.map((entry) => entry.did).join(',')} forget ${forget.join(',')}`)
    await this.answer()
    for (const did of forget) this.entries.delete(did)
    for (const entry of entries) this.entries.set(entry.did, entry)
  }
}

const OPTIONS = { ttlMs: 86_400_000, unresolvedTtlMs: 60_000, timeoutMs: 500 }

async function signingKey(): Promise<{ resolution: { kind: 'key'; key: ReturnType<typeof parseSigningKey> }; didKey: string }> {
  const pair = await Secp256k1Keypair.create()
  return { resolution: { kind: 'key', key: parseSigningKey(pair.did().slice('did:key:'.length)) }, didKey: pair.did() }
}

/** A cache whose first write (a store of did:plc:a) is in flight, unanswered until release(); later calls are answered at once. */
async function cacheWithHeldWrite(): Promise<{ store: RecordingStore; cache: SharedDidCache; resolution: Awaited<ReturnType<typeof signingKey>>['resolution']; release: () => void }> {
  const store = new RecordingStore()
  let answerFirst = (): void => {}
  store.answer = () => new Promise<void>((resolve) => (answerFirst = resolve))
  const cache = new SharedDidCache(store, OPTIONS, new FakeTimers(), emptyCounters(), silentLogger)
  const { resolution } = await signingKey()
  cache.put('did:plc:a', resolution, 0)
  await settle()
  const release = (): void => {
    store.answer = async () => {}
    answerFirst()
  }
  return { store, cache, resolution, release }
}

describe('one store call per event-loop turn: the DIDs a batch looks up go out as one read, its stores and deletes as one write, writes first (a delete asked for before a read is applied before it)', () => {
  it('batches reads and writes of one turn', async () => {
    const store = new RecordingStore()
    const timers = new FakeTimers()
    const cache = new SharedDidCache(store, OPTIONS, timers, emptyCounters(), silentLogger)
    const { resolution } = await signingKey()
    cache.put('did:plc:a', resolution, timers.now())
    const forgotten = cache.forget('did:plc:b')
    const reads = Promise.all(['did:plc:a', 'did:plc:b', 'did:plc:a'].map((did) => cache.get(did)))
    const [hits] = await Promise.all([reads, forgotten])
    expect(store.calls).toEqual(['write did:plc:a forget did:plc:b', 'read did:plc:a,did:plc:b'])
    expect(hits.map((hit) => hit?.resolution.kind ?? null)).toEqual(['key', null, 'key'])
  })
})

describe('one write in flight at a time: stores that come meanwhile go out together with the next (a cold start stores a key per fetch: a few large writes, not one per key)', () => {
  it('coalesces the stores made while a write is unanswered', async () => {
    const { store, cache, resolution, release } = await cacheWithHeldWrite()
    for (const did of ['did:plc:b', 'did:plc:c']) {
      cache.put(did, resolution, 0)
      await settle()
    }
    expect(store.calls).toEqual(['write did:plc:a forget '])
    release()
    await settle()
    expect(store.calls).toEqual(['write did:plc:a forget ', 'write did:plc:b,did:plc:c forget '])
    expect([...store.entries.keys()]).toEqual(['did:plc:a', 'did:plc:b', 'did:plc:c'])
  })
})

describe('flush() at stop: the stores of the last fetches reach the shared cache before the connection closes (else the next start fetches them again), bounded by timeoutMs per write', () => {
  it('resolves after the write in flight and the stores queued behind it are answered; at once when nothing is queued', async () => {
    const { store, cache, resolution, release } = await cacheWithHeldWrite()
    cache.put('did:plc:b', resolution, 0)
    let flushed = false
    const flushing = cache.flush().then(() => (flushed = true))
    await settle()
    expect(flushed).toBe(false)
    release()
    await flushing
    expect(store.calls).toEqual(['write did:plc:a forget ', 'write did:plc:b forget '])
    expect([...store.entries.keys()]).toEqual(['did:plc:a', 'did:plc:b'])
    await cache.flush()
    expect(store.calls).toHaveLength(2)
  })

  it('a store that does not answer holds flush() for timeoutMs at most', async () => {
    const store = new RecordingStore()
    store.answer = () => new Promise<void>(() => {})
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const cache = new SharedDidCache(store, OPTIONS, timers, counters, silentLogger)
    const { resolution } = await signingKey()
    cache.put('did:plc:a', resolution, 0)
    let flushed = false
    const flushing = cache.flush().then(() => (flushed = true))
    await settle()
    timers.advance(OPTIONS.timeoutMs - 1)
    await settle()
    expect(flushed).toBe(false)
    timers.advance(1)
    await flushing
    expect(counters.didSharedCacheErrors).toBe(1)
  })
})

describe('entries expire: a key after ttlMs, a "no document" answer after the shorter unresolvedTtlMs (the account may be created meanwhile)', () => {
  it('serves an entry until its expiry, then misses', async () => {
    const store = new RecordingStore()
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const cache = new SharedDidCache(store, OPTIONS, timers, counters, silentLogger)
    const { resolution, didKey } = await signingKey()
    cache.put('did:plc:key', resolution, timers.now())
    cache.put('did:plc:none', { kind: 'unresolved', reason: 'answered 404' }, timers.now())
    await settle()
    expect(store.entries.get('did:plc:key')).toMatchObject({ found: { kind: 'key', multikey: didKey.slice('did:key:'.length) }, expiresAtMs: timers.now() + OPTIONS.ttlMs })
    const hit = await cache.get('did:plc:key')
    expect(hit?.resolution).toMatchObject({ kind: 'key', key: { didKey } })
    expect((await cache.get('did:plc:none'))?.resolution).toEqual({ kind: 'unresolved', reason: 'answered 404' })
    timers.advance(OPTIONS.unresolvedTtlMs)
    expect(await cache.get('did:plc:none')).toBeNull()
    expect(await cache.get('did:plc:key')).not.toBeNull()
    timers.advance(OPTIONS.ttlMs)
    expect(await cache.get('did:plc:key')).toBeNull()
    expect([counters.didSharedCacheHits, counters.didSharedCacheMisses]).toEqual([3, 2])
  })

  it('a stored key that no longer parses is a miss (fetched again and replaced)', async () => {
    const store = new RecordingStore()
    const timers = new FakeTimers()
    store.entries.set('did:plc:bad', { did: 'did:plc:bad', found: { kind: 'key', multikey: 'zNotAKey' }, fetchedAtMs: timers.now(), expiresAtMs: timers.now() + 1_000 })
    const counters = emptyCounters()
    expect(await new SharedDidCache(store, OPTIONS, timers, counters, silentLogger).get('did:plc:bad')).toBeNull()
    expect(counters.didSharedCacheMisses).toBe(1)
  })
})

describe('the shared cache is an optimisation: a store that fails or does not answer costs an HTTP request, never a frame, and cannot pile up calls', () => {
  it('a failing store: reads answer null, writes are dropped, deletes resolve; each call counted, the failure logged once', async () => {
    const store = new RecordingStore()
    store.answer = async () => {
      throw new Error('Connection is closed.')
    }
    const counters = emptyCounters()
    const { logger, lines } = capturingLogger()
    const cache = new SharedDidCache(store, OPTIONS, new FakeTimers(), counters, logger)
    const { resolution } = await signingKey()
    cache.put('did:plc:a', resolution, 0)
    await cache.forget('did:plc:b')
    expect(await cache.get('did:plc:a')).toBeNull()
    expect(counters.didSharedCacheErrors).toBe(2)
    expect(counters.didSharedCacheMisses).toBe(0)
    expect(lines.map((line) => [line.code, line.reason])).toEqual([['DID_SHARED_CACHE_ERROR', 'Connection is closed.']])
  })

  it('a store that does not answer: given up after timeoutMs; at most 16 calls unanswered, later ones not sent', async () => {
    const store = new RecordingStore()
    const never = new Promise<void>(() => {})
    store.answer = () => never
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const cache = new SharedDidCache(store, OPTIONS, timers, counters, silentLogger)
    const first = cache.get('did:plc:a')
    await settle()
    timers.advance(OPTIONS.timeoutMs)
    expect(await first).toBeNull()
    expect(counters.didSharedCacheErrors).toBe(1)
    for (let i = 0; i < 20; i++) {
      const read = cache.get(`did:plc:${i}`)
      await settle()
      timers.advance(OPTIONS.timeoutMs)
      expect(await read).toBeNull()
    }
    // 16 sent (each still unanswered after its timeout), 5 not sent at all.
    expect(store.calls).toHaveLength(16)
    expect(counters.didSharedCacheErrors).toBe(21)
    expect(timers.pendingCount).toBe(0)
  })
})

import { didKeyCacheKeysOf } from '../../common/contract.js'
import { colocatedKey, type KeyLayout } from '../../common/key-layout.js'
import { luaScript, runLuaScript } from '../lua-script.js'
import type { RedisClient } from '../redis-connection.js'
import type { DidKeyStore, StoredDidKey } from './did-key-store.js'

/** The shared DID cache's two keys: they are written together by one script, so they share a hash slot. */
export interface DidKeyCacheKeys {
  /** Hash DID -> the entry as JSON (encodeEntry). */
  entries: string
  /** Sorted set DID -> expiresAtMs: what expires first, and what the bound evicts first. */
  expiry: string
}

/**
 * `<stream>:did-keys` and `<stream>:did-keys:expiry`, with the stream's hash tag when the layout is
 * tagged (--shards, --redis-cluster: common/key-layout.ts), so one script may touch both on a cluster.
 * Per stream, so every ingestor of one deployment (--ha nodes, restarts) shares it.
 */
export function didKeyCacheKeys(layout: KeyLayout, stream: string): DidKeyCacheKeys {
  const base = didKeyCacheKeysOf(stream)
  return { entries: colocatedKey(layout, base.entries, stream), expiry: colocatedKey(layout, base.expiry, stream) }
}

/**
 * Stores and deletes entries, then keeps the bound: first the expired entries go, then, while
 * there are more than ARGV[2], those closest to expiry (ZPOPMIN): a "no document" answer
 * (60 s) before any key, and among keys the one fetched longest ago, which would have been
 * fetched again soonest anyway. Evicting by expiry needs no write on reads (an LRU would: a
 * ZADD per hit). At most as many evictions per call as the call adds plus 1,000, so one call
 * stays short: the bound holds after every call that starts within it, and a bound lowered
 * between runs is reached 1,000 entries per write. Both keys get PEXPIRE ARGV[3] (the longest
 * an entry lives), so a cache no ingestor writes any more leaves Redis by itself.
 * ARGV: nowMs, maxEntries, keepMs, then (did, entry JSON or '' to delete, expiresAtMs) triples.
 * Returns the number of entries held.
 */
const STORE_DID_KEYS = luaScript(`
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local budget = (#ARGV - 3) / 3 + 1000
for i = 4, #ARGV, 3 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[2], ARGV[i + 2], ARGV[i])
  end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, budget)
for _, did in ipairs(expired) do
  redis.call('HDEL', KEYS[1], did)
  redis.call('ZREM', KEYS[2], did)
end
budget = budget - #expired
local over = math.min(redis.call('ZCARD', KEYS[2]) - max, budget)
if over > 0 then
  local evicted = redis.call('ZPOPMIN', KEYS[2], over)
  for j = 1, #evicted, 2 do redis.call('HDEL', KEYS[1], evicted[j]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return redis.call('ZCARD', KEYS[2])
`)

export interface RedisDidKeyStoreOptions {
  keys: DidKeyCacheKeys
  /** Most entries kept (--did-shared-cache-size). */
  maxEntries: number
  /** The longest an entry lives: both keys expire this long after the last write. */
  keepMs: number
}

/**
 * The shared DID cache in Redis: one hash read with one HMGET per batch (a cluster routes it by
 * its one key), written by one script per batch (STORE_DID_KEYS). On the ingestor's own
 * connection, which fails fast while Redis is down (no offline queue): the caller falls back to HTTP.
 */
export class RedisDidKeyStore implements DidKeyStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly options: RedisDidKeyStoreOptions,
  ) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer (got ${options.maxEntries})`)
  }

  async read(dids: readonly string[]): Promise<(StoredDidKey | null)[]> {
    if (dids.length === 0) return []
    const values = await this.redis.hmget(this.options.keys.entries, ...dids)
    return values.map((value, i) => (value === null ? null : decodeEntry(dids[i]!, value)))
  }

  async write(entries: readonly StoredDidKey[], forget: readonly string[], nowMs: number): Promise<void> {
    if (entries.length === 0 && forget.length === 0) return
    const args: (string | number)[] = [this.options.keys.entries, this.options.keys.expiry, nowMs, this.options.maxEntries, this.options.keepMs]
    for (const did of forget) args.push(did, '', 0)
    for (const entry of entries) args.push(entry.did, encodeEntry(entry), entry.expiresAtMs)
    await runLuaScript(this.redis, STORE_DID_KEYS, 2, args)
  }
}

/** The hash value: JSON, so an operator can read it with HGET. */
interface EncodedEntry {
  key?: string
  unresolved?: string
  fetchedAt: number
  expiresAt: number
}

function encodeEntry(entry: StoredDidKey): string {
  const found = entry.found.kind === 'key' ? { key: entry.found.multikey } : { unresolved: entry.found.reason }
  return JSON.stringify({ ...found, fetchedAt: entry.fetchedAtMs, expiresAt: entry.expiresAtMs } satisfies EncodedEntry)
}

/** The entry, or null for a value this code did not write (another version's, or damaged): treated as absent, and replaced after the fetch. */
function decodeEntry(did: string, value: string): StoredDidKey | null {
  let parsed: Partial<EncodedEntry>
  try {
    parsed = JSON.parse(value) as Partial<EncodedEntry>
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.fetchedAt !== 'number' || typeof parsed.expiresAt !== 'number') return null
  const found = typeof parsed.key === 'string' ? { kind: 'key' as const, multikey: parsed.key } : typeof parsed.unresolved === 'string' ? { kind: 'unresolved' as const, reason: parsed.unresolved } : null
  return found === null ? null : { did, found, fetchedAtMs: parsed.fetchedAt, expiresAtMs: parsed.expiresAt }
}

import { backfillInactiveKeyOf, backfillKeyOf, snapshotProgressKeyOf } from '../common/contract.js'
import { colocatedKey, shardStream, type KeyLayout } from '../common/key-layout.js'
import { luaScript, runLuaScript } from '../ingestor/lua-script.js'
import type { RedisClient } from '../common/redis-client.js'
import {
  BACKFILL_COUNT_FIELDS,
  BACKFILL_COUNTERS,
  BACKFILL_MARKER_PATTERN,
  BACKFILL_QUEUED,
  didOfBackfillMarker,
  parseBackfillMarker,
  sumBackfillCounts,
  type BackfillCounts,
  type BackfillFailure,
} from '../repo-sync/backfill-fields.js'
import type { ListingPosition } from './selection.js'

/**
 * One page's repos for one shard, atomically: each DID without a marker gets one (`queued`), or
 * for an account the listing named not active an entry in the shard's inactive hash (DID ->
 * status); `listed` and `inactive` grow by as many, and the page is noted, so the same page taken
 * again (the lister died before saving its position) changes nothing. A DID already asked for
 * (marked, or in the inactive hash) is not counted twice.
 * KEYS: 1 the shard's snapshot progress hash, 2 its inactive hash. ARGV: 1 page id, 2 n, then n
 * active DIDs, then (DID, status) pairs. Returns the DIDs asked for, -1 for a page taken before.
 */
const ENQUEUE = luaScript(`
if redis.call('HGET', KEYS[1], '${BACKFILL_COUNTERS.page}') == ARGV[1] then return -1 end
local active = tonumber(ARGV[2])
local n, inactive = 0, 0
for i = 3, 2 + active do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 and redis.call('HSETNX', KEYS[1], ARGV[i] .. '#backfill', '${BACKFILL_QUEUED}') == 1 then n = n + 1 end
end
for i = 3 + active, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i] .. '#backfill') == 0 and redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then inactive = inactive + 1 end
end
redis.call('HINCRBY', KEYS[1], '${BACKFILL_COUNTERS.listed}', n + inactive)
redis.call('HINCRBY', KEYS[1], '${BACKFILL_COUNTERS.inactive}', inactive)
redis.call('HSET', KEYS[1], '${BACKFILL_COUNTERS.page}', ARGV[1])
return n + inactive
`)

/** Where a listing stands, as `<stream>:backfill` holds it. */
export interface StoredListing {
  /** This listing's own id (page ids start with it). */
  id: string
  /** selectionId() of what is listed. */
  selection: string
  /** Where the next page starts. */
  position: ListingPosition
  complete: boolean
  pages: number
  startedAtMs: number
}

export type { BackfillCounts }

export interface FailingRepo extends BackfillFailure {
  did: string
}

const LISTING_FIELD = 'listing'

/** The backfill's keys in Redis (docs/backfill.md, "What is stored"). */
export class BackfillStore {
  private readonly shardHashes: string[]
  private readonly inactiveHashes: string[]
  private readonly listingKey: string

  constructor(
    private readonly redis: RedisClient,
    layout: KeyLayout,
    stream: string,
  ) {
    this.shardHashes = Array.from({ length: layout.shards }, (_, shard) => colocatedKey(layout, snapshotProgressKeyOf(stream), shardStream(layout, stream, shard)))
    this.inactiveHashes = Array.from({ length: layout.shards }, (_, shard) => colocatedKey(layout, backfillInactiveKeyOf(stream), shardStream(layout, stream, shard)))
    this.listingKey = backfillKeyOf(stream)
  }

  get shards(): number {
    return this.shardHashes.length
  }

  async readListing(): Promise<StoredListing | null> {
    const raw = await this.redis.hget(this.listingKey, LISTING_FIELD)
    if (raw === null) return null
    try {
      return JSON.parse(raw) as StoredListing
    } catch {
      return null
    }
  }

  async writeListing(listing: StoredListing): Promise<void> {
    await this.redis.hset(this.listingKey, LISTING_FIELD, JSON.stringify(listing))
  }

  /** Asks for a page's repos of one shard; the count asked for, or -1 when this page was taken before. */
  async enqueue(shard: number, pageId: string, active: readonly string[], inactive: readonly { did: string; status: string }[] = []): Promise<number> {
    const args = [pageId, String(active.length), ...active, ...inactive.flatMap(({ did, status }) => [did, status])]
    return Number(await runLuaScript(this.redis, ENQUEUE, 2, [this.shardHashes[shard]!, this.inactiveHashes[shard]!, ...args]))
  }

  async counts(): Promise<BackfillCounts> {
    const shards: (string | null)[][] = []
    for (const key of this.shardHashes) shards.push(await this.redis.hmget(key, ...BACKFILL_COUNT_FIELDS))
    return sumBackfillCounts(shards)
  }

  /** The repos whose last fetch failed, at most `limit` (a scan of the markers), and how many there are. */
  async failing(limit: number): Promise<{ repos: FailingRepo[]; total: number }> {
    const repos: FailingRepo[] = []
    let total = 0
    for (const key of this.shardHashes) {
      let cursor = '0'
      do {
        const [next, flat] = await this.redis.hscan(key, cursor, 'MATCH', BACKFILL_MARKER_PATTERN, 'COUNT', 1000)
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const did = didOfBackfillMarker(flat[i]!)
          const marker = parseBackfillMarker(flat[i + 1]!)
          if (did === null || marker?.kind !== 'failing') continue
          total++
          if (repos.length < limit) repos.push({ did, code: marker.code, message: marker.message, attempts: marker.attempts, atMs: marker.atMs })
        }
        cursor = next
      } while (cursor !== '0')
    }
    return { repos, total }
  }

  /** Repos listed as inactive and not active again yet, at most `limit`, with the status the listing gave, and how many there are. */
  async inactive(limit: number): Promise<{ repos: { did: string; status: string }[]; total: number }> {
    const repos: { did: string; status: string }[] = []
    let total = 0
    for (const key of this.inactiveHashes) {
      total += await this.redis.hlen(key)
      let cursor = '0'
      while (repos.length < limit) {
        const [next, flat] = await this.redis.hscan(key, cursor, 'COUNT', 1000)
        for (let i = 0; i + 1 < flat.length && repos.length < limit; i += 2) repos.push({ did: flat[i]!, status: flat[i + 1]! })
        cursor = next
        if (cursor === '0') break
      }
    }
    return { repos, total }
  }

  /**
   * Forgets the listing (`--restart`): the next run lists from the start. Repos asked for and not
   * done keep their markers (the ingestor still fetches them; the new listing does not ask for them
   * twice), so each shard's counters restart from them: listed = what is still asked for.
   */
  async reset(): Promise<void> {
    await this.redis.hdel(this.listingKey, LISTING_FIELD)
    for (const key of this.shardHashes) await runLuaScript(this.redis, RESET, 1, [key])
  }
}

/** KEYS: 1 a shard's snapshot progress hash. Its counters restart from the repos still asked for (failing ones stay failing). */
const RESET = luaScript(`
local function count(field) return tonumber(redis.call('HGET', KEYS[1], field) or '0') end
local listed = count('${BACKFILL_COUNTERS.listed}') - count('${BACKFILL_COUNTERS.done}')
local inactive = count('${BACKFILL_COUNTERS.inactive}') - count('${BACKFILL_COUNTERS.reactivated}')
redis.call('HSET', KEYS[1], '${BACKFILL_COUNTERS.listed}', math.max(0, listed), '${BACKFILL_COUNTERS.inactive}', math.max(0, inactive), '${BACKFILL_COUNTERS.done}', 0, '${BACKFILL_COUNTERS.reactivated}', 0, '${BACKFILL_COUNTERS.records}', 0)
redis.call('HDEL', KEYS[1], '${BACKFILL_COUNTERS.page}')
return 1
`)

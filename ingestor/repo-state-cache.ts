import { LruCache } from '../common/lru-cache.js'
import type { Logger } from '../common/logger.js'
import { shardOfDid } from '../protocol/shard.js'
import { decodeRepoState } from '../repo-sync/repo-state-codec.js'
import type { BelievedRepo } from './repo-plan.js'

/** Reads fields of one shard's per-repo state hash (redis-sink.ts readHashFields), retried through outages by the caller's wrapper. */
export type RepoStateRead = (shard: number, dids: readonly string[]) => Promise<(Buffer | null)[]>

/** Believed states never expire: they change only by our own writes, and a resync forgets them all. */
const NO_EXPIRY_MS = 2 ** 40

/**
 * The per-repo states this ingestor believes Redis holds, the compare-and-set bases of its
 * writes (I23), as the cursor store keeps the cursors'. Bounded: at most `maxRepos` DIDs, least
 * recently used forgotten first; a forgotten DID is read again (one HMGET per shard and write for
 * all the DIDs of a write that are not held). Forgotten wholesale on every resync of the pipeline:
 * Redis may hold other states then (it lost writes, or another ingestor wrote).
 */
export class RepoStateCache {
  private readonly believed: LruCache<string, BelievedRepo>

  constructor(
    maxRepos: number,
    private readonly shards: number,
    private readonly read: RepoStateRead,
    private readonly logger: Logger,
  ) {
    this.believed = new LruCache(maxRepos)
  }

  get size(): number {
    return this.believed.size
  }

  /** The believed state of each DID, read from Redis where not held. The map is the caller's: evictions meanwhile do not touch it. */
  async load(dids: Iterable<string>): Promise<Map<string, BelievedRepo>> {
    const found = new Map<string, BelievedRepo>()
    const missing: string[][] = Array.from({ length: this.shards }, () => [])
    for (const did of dids) {
      if (found.has(did)) continue
      const held = this.believed.get(did)
      if (held !== undefined) found.set(did, held)
      else {
        found.set(did, { raw: null, state: null }) // placeholder, filled below
        missing[shardOfDid(did, this.shards)]!.push(did)
      }
    }
    await Promise.all(
      missing.map(async (shardDids, shard) => {
        const values = await this.read(shard, shardDids)
        shardDids.forEach((did, i) => {
          const repo = this.decode(did, values[i] ?? null)
          found.set(did, repo)
          this.believed.set(did, repo, NO_EXPIRY_MS)
        })
      }),
    )
    return found
  }

  /** After a write is applied: these are what Redis holds now. */
  believe(changed: ReadonlyMap<string, BelievedRepo>): void {
    for (const [did, repo] of changed) this.believed.set(did, repo, NO_EXPIRY_MS)
  }

  /** After a resync of the pipeline: nothing believed any more. */
  forgetAll(): void {
    this.believed.clear()
  }

  /**
   * A value that does not decode (written by something else, or damaged) reads as no state: the
   * repo's next commit starts its chain again, and the write replaces the value (its CAS base is
   * the raw bytes). Logged, never a crash.
   */
  private decode(did: string, raw: Buffer | null): BelievedRepo {
    if (raw === null) return { raw: null, state: null }
    try {
      return { raw, state: decodeRepoState(raw) }
    } catch (err) {
      this.logger.warn({ did, err: (err as Error).message, value: raw.subarray(0, 64).toString('hex') }, 'stored per-repo state does not decode: treated as none')
      return { raw, state: null }
    }
  }
}

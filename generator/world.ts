import { cidForRecord } from '@atproto/repo'
import type { SeededRandom } from '../common/random.js'
import type { RecordWrite } from './account-repo.js'
import type { AccountIdentity } from './identity.js'
import type { LexRecord, StrongRef } from './records.js'
import type { MentionTarget } from './text.js'
import { TidClock } from './tid.js'

/** The planner's view of the simulated network: accounts, their deletable records, recent posts. */

export type AccountStatus = 'pending' | 'active' | 'deactivated' | 'deleted'

/** A record an account could delete later (unlike, unfollow, delete post...). */
export interface OwnedRecord {
  collection: string
  rkey: string
}

export interface AccountState {
  identity: AccountIdentity
  status: AccountStatus
  handle: string
  displayName: string
  tids: TidClock
  /** Newest records first; bounded (OWNED_LIMIT): older ones simply stop being delete candidates. */
  owned: OwnedRecord[]
  lists: string[]
  /** Records and rev of the repository as it stood before the fixture; null for accounts created during it. */
  preload: { records: RecordWrite[]; rev: string } | null
}

export interface PoolPost {
  ref: StrongRef
  author: number
  /** Thread root of this post (itself when it is not a reply). */
  root: StrongRef
}

const OWNED_LIMIT = 256
const POOL_SIZE = 4096
const RECENT = 256

export function rememberOwned(account: AccountState, record: OwnedRecord): void {
  account.owned.unshift(record)
  if (account.owned.length > OWNED_LIMIT) account.owned.pop()
}

export function takeOwned(account: AccountState, random: SeededRandom): OwnedRecord | null {
  if (account.owned.length === 0) return null
  // Most deletes undo something recent (an accidental like, a regretted post).
  const index = random.bool(0.7) ? random.int(0, Math.min(15, account.owned.length - 1)) : random.int(0, account.owned.length - 1)
  return account.owned.splice(index, 1)[0]!
}

/**
 * Recent posts that likes, reposts, replies and quotes point at. A ring buffer of POOL_SIZE;
 * when full, the oldest entry is overwritten (and forgotten as a target).
 */
export class PostPool {
  private readonly posts: PoolPost[] = []
  private next = 0
  private readonly deleted = new Set<string>()

  add(post: PoolPost): void {
    if (this.posts.length < POOL_SIZE) {
      this.posts.push(post)
    } else {
      this.deleted.delete(this.posts[this.next]!.ref.uri)
      this.posts[this.next] = post
    }
    this.next = (this.next + 1) % POOL_SIZE
  }

  markDeleted(uri: string): void {
    this.deleted.add(uri)
  }

  /** A live post, biased to the most recent ones; null if none found in a few tries. */
  pick(random: SeededRandom, isLive: (author: number) => boolean): PoolPost | null {
    const n = this.posts.length
    if (n === 0) return null
    for (let attempt = 0; attempt < 6; attempt++) {
      const back = random.bool(0.6) ? random.int(1, Math.min(RECENT, n)) : random.int(1, n)
      // `next` is one past the newest entry, both while filling and once wrapped.
      const post = this.posts[(((this.next - back) % n) + n) % n]!
      if (!this.deleted.has(post.ref.uri) && isLive(post.author)) return post
    }
    return null
  }
}

/**
 * Who acts: the i-th account (from 1) writes in proportion to 1 / i^exponent. 0.7 is the default
 * every committed fixture was made with; ~1.1 with about as many accounts as events gives a few
 * very active accounts and a long tail seen once (bench/verify.ts; docs/verify.md compares that
 * with the live network). Above 3 one account writes nearly everything (83% at 3), which no
 * network looks like.
 */
export const DEFAULT_ACTIVITY_EXPONENT = 0.7
export const MAX_ACTIVITY_EXPONENT = 3

/** Samples account indexes with a power-law activity skew (a few accounts do much of the writing). */
export class ActivitySampler {
  private readonly cumulative: Float64Array

  constructor(count: number, exponent: number) {
    this.cumulative = new Float64Array(count)
    let total = 0
    for (let i = 0; i < count; i++) {
      total += 1 / Math.pow(i + 1, exponent)
      this.cumulative[i] = total
    }
  }

  sample(random: SeededRandom): number {
    const target = random.next() * this.cumulative[this.cumulative.length - 1]!
    let lo = 0
    let hi = this.cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.cumulative[mid]! <= target) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

export async function strongRef(did: string, collection: string, rkey: string, record: LexRecord): Promise<StrongRef> {
  const cid = await cidForRecord(record as Parameters<typeof cidForRecord>[0])
  return { uri: `at://${did}/${collection}/${rkey}`, cid: cid.toString() }
}

export function mentionTarget(account: AccountState): MentionTarget {
  return { did: account.identity.did, handle: account.handle }
}

import type { SeededRandom } from '../common/random.js'
import type { RecordWrite } from './account-repo.js'
import { createIdentity } from './identity.js'
import { PENDING_ACCOUNT_SHARE } from './mix.js'
import * as records from './records.js'
import type { LexRecord } from './records.js'
import { streamFor } from './seeds.js'
import type { MentionTarget } from './text.js'
import { TidClock } from './tid.js'
import { ActivitySampler, PostPool, mentionTarget, rememberOwned, type AccountState } from './world.js'

/**
 * The planner's bookkeeping of the simulated network: every account, who is likely to act or be
 * followed, the recent posts, and each account's records as they are written.
 */
export class Population {
  readonly accounts: AccountState[] = []
  readonly pool = new PostPool()
  /** Accounts 0 to existing - 1 have repos when the fixture starts; the others sign up during it. */
  readonly existing: number
  /** Who writes: a few accounts do much of it. */
  private readonly activity: ActivitySampler
  /** Who gets followed, blocked and listed: more skewed than activity. */
  private readonly popularity: ActivitySampler

  constructor(seed: number, count: number, activityExponent: number) {
    this.activity = new ActivitySampler(count, activityExponent)
    this.popularity = new ActivitySampler(count, 0.9)
    this.existing = count - Math.floor(count * PENDING_ACCOUNT_SHARE)
    for (let i = 0; i < count; i++) {
      const identity = createIdentity(seed, i)
      const random = streamFor(seed, 'account', i)
      this.accounts.push({
        identity,
        status: i >= this.existing ? 'pending' : 'active',
        handle: identity.handle,
        displayName: displayName(random),
        tids: new TidClock(identity.clockId),
        owned: [],
        lists: [],
        preload: null,
      })
    }
  }

  readonly isLive = (index: number): boolean => this.accounts[index]!.status === 'active'

  /** An active account, chosen by activity; null if none is active. */
  actor(random: SeededRandom): number | null {
    for (let attempt = 0; attempt < 20; attempt++) {
      const i = this.activity.sample(random)
      if (this.isLive(i)) return i
    }
    const i = this.accounts.findIndex((a) => a.status === 'active')
    return i >= 0 ? i : null
  }

  /** The DID of an account other than `self`, chosen by popularity. */
  otherAccount(random: SeededRandom, self: number): string {
    let other = this.popularity.sample(random)
    if (other === self) other = (self + 1) % this.accounts.length
    return this.accounts[other]!.identity.did
  }

  /** Whom `actor`'s post may mention: an account chosen by activity, none if that is the actor. */
  mentionable(random: SeededRandom, actor: number): () => MentionTarget | null {
    return () => {
      const other = this.activity.sample(random)
      return other === actor ? null : mentionTarget(this.accounts[other]!)
    }
  }

  /** A create write, remembered as something the account may delete later. */
  create(actor: number, record: LexRecord, rkey: string): RecordWrite {
    rememberOwned(this.accounts[actor]!, { collection: record.$type, rkey })
    return { action: 'create', collection: record.$type, rkey, record }
  }

  /** A new list of `actor`'s, remembered as one its list items can go to. */
  newList(random: SeededRandom, actor: number, createdAtMs: number, rkey: string): RecordWrite {
    const account = this.accounts[actor]!
    account.lists.push(`at://${account.identity.did}/app.bsky.graph.list/${rkey}`)
    return { action: 'create', collection: 'app.bsky.graph.list', rkey, record: records.list(random, createdAtMs) }
  }
}

function displayName(random: SeededRandom): string {
  const first = ['Alex', 'Sam', 'Maria', 'Kenji', 'Ana', 'Lukas', 'Priya', 'Chen', 'Fatima', 'Jo', 'Sakura', 'Mateus', 'Léa', 'Min-jun']
  const last = ['Silva', 'Tanaka', 'Müller', 'Smith', 'García', 'Kim', 'Nguyen', 'Rossi', 'Dubois', '🦋', '', 'Okafor']
  return `${random.pick(first)} ${random.pick(last)}`.trim()
}

import type { SeededRandom } from '../common/random.js'
import { randomHandle, randomHandleName } from './identity.js'
import type { Action } from './mix.js'
import type { Draft } from './plan-types.js'
import type { Population } from './population.js'
import * as records from './records.js'
import type { RecordAction } from './record-writes.js'

/** The actions that are frames about an account rather than commits of its records. */
export type AccountAction = Exclude<Action, RecordAction | 'createAccount'>

/** Accounts' lives: sign-up, handle changes, deactivation and return, deletion, #sync announcements. */
export class AccountEvents {
  /** Deactivated accounts come back after a while: [event index, account]; at most one entry per account (only active accounts act). */
  private readonly reactivations: [number, number][] = []

  constructor(
    private readonly random: SeededRandom,
    private readonly population: Population,
  ) {}

  /** One account due back by event `index`, if it is still deactivated: its #account frame. */
  reactivation(index: number): Draft | null {
    const due = this.reactivations.findIndex(([at]) => at <= index)
    if (due < 0) return null
    const [, account] = this.reactivations.splice(due, 1)[0]!
    if (this.population.accounts[account]!.status !== 'deactivated') return null
    this.population.accounts[account]!.status = 'active'
    return { type: 'account', account, active: true }
  }

  /** A pending account signs up: #identity, #account, the empty init commit, then its profile; null if none is pending. */
  signUp(nowUs: number): Draft[] | null {
    const index = this.population.accounts.findIndex((a) => a.status === 'pending')
    if (index < 0) return null
    const account = this.population.accounts[index]!
    account.status = 'active'
    const createdAtMs = Math.floor(nowUs / 1000)
    return [
      { type: 'identity', account: index, handle: account.handle },
      { type: 'account', account: index, active: true },
      { type: 'commit', account: index, writes: [], first: true },
      {
        type: 'commit',
        account: index,
        writes: [{ action: 'create', collection: 'app.bsky.actor.profile', rkey: 'self', record: records.profile(this.random, account.displayName, createdAtMs) }],
      },
    ]
  }

  /** The frame of `actor`'s `action` at event `index`. */
  event(action: AccountAction, actor: number, index: number): Draft {
    const account = this.population.accounts[actor]!
    switch (action) {
      case 'identity':
        account.handle = this.random.bool(0.8) ? randomHandle(this.random) : `${randomHandleName(this.random)}.bsky.social`
        return { type: 'identity', account: actor, handle: account.handle }
      case 'deactivate':
        account.status = 'deactivated'
        this.reactivations.push([index + this.random.int(20, 400), actor])
        return { type: 'account', account: actor, active: false, status: 'deactivated' }
      case 'deleteAccount':
        account.status = 'deleted'
        return { type: 'account', account: actor, active: false, status: 'deleted' }
      case 'sync':
        return { type: 'sync', account: actor }
    }
  }
}

import type { SeededRandom } from '../common/random.js'
import type { AccountEvents } from './account-events.js'
import { ACTION_WEIGHTS, type Action } from './mix.js'
import type { Draft } from './plan-types.js'
import type { Population } from './population.js'
import type { Preload } from './preload.js'
import { isRecordAction, type RecordWrites } from './record-writes.js'

/** Chooses what happens next: who acts and how, by the weights in mix.ts. */
export class NextAction {
  /** fromCreation: accounts whose pre-existing repo is built but not yet created in the fixture (a failed action leaves its actor here). */
  private readonly uncreated = new Set<number>()

  constructor(
    private readonly random: SeededRandom,
    private readonly population: Population,
    private readonly preload: Preload,
    private readonly writes: RecordWrites,
    private readonly events: AccountEvents,
    /** Precede an existing account's first event with the commit creating its repo (PlanOptions.fromCreation). */
    private readonly fromCreation: boolean,
  ) {}

  /** The drafts of the next action (one or more frames), decided at event `index`, time `nowUs`. */
  async drafts(index: number, nowUs: number): Promise<Draft[]> {
    const back = this.events.reactivation(index)
    if (back) return [back]
    for (let attempt = 0; attempt < 10; attempt++) {
      const drafts = await this.tryAction(this.random.weighted(ACTION_WEIGHTS), index, nowUs)
      if (drafts) return drafts
    }
    // Every action failed (e.g. a tiny world with nobody active): announce a sync of an existing repo.
    const account = Math.max(
      0,
      this.population.accounts.findIndex((a) => a.status !== 'pending'),
    )
    await this.ensurePreload(account)
    return this.withCreation(account, [{ type: 'sync', account }])
  }

  /** The drafts of `action` by an account chosen by activity; null if it cannot be done now. */
  private async tryAction(action: Action, index: number, nowUs: number): Promise<Draft[] | null> {
    if (action === 'createAccount') return this.events.signUp(nowUs)
    const actor = this.population.actor(this.random)
    if (actor === null) return null
    await this.ensurePreload(actor)
    const account = this.population.accounts[actor]!
    // Clients stamp createdAt a moment before the PDS sequences the write.
    const createdAtMs = Math.floor(nowUs / 1000) - this.random.int(30, 1500)
    if (!isRecordAction(action)) return this.withCreation(actor, [this.events.event(action, actor, index)])
    const rkey = (): string => account.tids.next(createdAtMs * 1000)
    const writes = await this.writes.write(action, actor, createdAtMs, rkey)
    return writes && this.withCreation(actor, [{ type: 'commit', account: actor, writes }])
  }

  private async ensurePreload(account: number): Promise<void> {
    if ((await this.preload.ensure(account)) && this.fromCreation) this.uncreated.add(account)
  }

  /** `drafts`, after the commit creating the account's whole pre-existing repo when it is not in the fixture yet. */
  private withCreation(account: number, drafts: Draft[]): Draft[] {
    if (!this.uncreated.delete(account)) return drafts
    return [{ type: 'commit', account, writes: this.population.accounts[account]!.preload!.records, first: true }, ...drafts]
  }
}

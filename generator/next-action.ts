import type { SeededRandom } from '../common/random.js'
import type { AccountEvents } from './account-events.js'
import { ACTION_WEIGHTS, type Action } from './mix.js'
import type { Draft } from './plan-types.js'
import type { Population } from './population.js'
import type { Preload } from './preload.js'
import { isRecordAction, type RecordWrites } from './record-writes.js'

/** Chooses what happens next: who acts and how, by the weights in mix.ts. */
export class NextAction {
  constructor(
    private readonly random: SeededRandom,
    private readonly population: Population,
    private readonly preload: Preload,
    private readonly writes: RecordWrites,
    private readonly events: AccountEvents,
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
    await this.preload.ensure(account)
    return [{ type: 'sync', account }]
  }

  /** The drafts of `action` by an account chosen by activity; null if it cannot be done now. */
  private async tryAction(action: Action, index: number, nowUs: number): Promise<Draft[] | null> {
    if (action === 'createAccount') return this.events.signUp(nowUs)
    const actor = this.population.actor(this.random)
    if (actor === null) return null
    await this.preload.ensure(actor)
    const account = this.population.accounts[actor]!
    // Clients stamp createdAt a moment before the PDS sequences the write.
    const createdAtMs = Math.floor(nowUs / 1000) - this.random.int(30, 1500)
    if (!isRecordAction(action)) return [this.events.event(action, actor, index)]
    const rkey = (): string => account.tids.next(createdAtMs * 1000)
    const writes = await this.writes.write(action, actor, createdAtMs, rkey)
    return writes && [{ type: 'commit', account: actor, writes }]
  }
}

import { AccountEvents } from './account-events.js'
import { MultiWrites } from './multi-writes.js'
import { NextAction } from './next-action.js'
import { PlanClock } from './plan-clock.js'
import type { Draft, PlanOptions, PlannedEvent } from './plan-types.js'
import { Population } from './population.js'
import { PostWriter } from './post-writer.js'
import { Preload } from './preload.js'
import { RecordWrites } from './record-writes.js'
import { streamFor } from './seeds.js'
import type { AccountState } from './world.js'

/**
 * Decides, deterministically from the seed, every event of the fixture: who does what, when,
 * with which records and revs. It never touches repositories or keys (the shards do), so
 * every worker can run its own copy and they all agree on the plan.
 */
export class Planner {
  /** Drafts decided together (account creation, threads) wait here for their own seq; at most one action's worth. */
  private readonly queue: Draft[] = []
  private index = 0
  private seq: number

  private constructor(
    private readonly options: PlanOptions,
    private readonly clock: PlanClock,
    private readonly population: Population,
    private readonly nextAction: NextAction,
  ) {
    this.seq = options.firstSeq
  }

  /** Builds the world as it stood at the start; `keepPreload(i)` says whose pre-existing records to keep (the shard's own). */
  static async create(options: PlanOptions, keepPreload: (account: number) => boolean): Promise<Planner> {
    // One stream for every decision of the plan: the draws happen in event order.
    const random = streamFor(options.seed, 'plan')
    const clock = new PlanClock(random, options.startTimeMs, options.eventsPerSecond)
    const population = new Population(options.seed, options.accounts, options.activityExponent)
    const preload = await Preload.build(options, clock.startUs, population, keepPreload)
    const posts = new PostWriter(random, population)
    const writes = new RecordWrites(random, population, posts, new MultiWrites(random, population, posts))
    return new Planner(options, clock, population, new NextAction(random, population, preload, writes, new AccountEvents(random, population), options.fromCreation))
  }

  /** Every account's state so far (its identity, handle, pre-existing repo). */
  get accounts(): readonly AccountState[] {
    return this.population.accounts
  }

  /** Index the next planned event will get. */
  get nextIndex(): number {
    return this.index
  }

  get done(): boolean {
    return this.index >= this.options.events
  }

  /** The next event of the plan. */
  async next(): Promise<PlannedEvent> {
    if (this.done) throw new RangeError('plan exhausted')
    this.clock.advance()
    const base = { index: this.index++, timeUs: this.clock.nowUs, receivedUs: this.clock.received() }
    if (base.index === 0 && this.options.infoFrame) {
      return { ...base, type: 'info', account: -1, name: 'OutdatedCursor', message: 'Requested cursor exceeded limit. Possibly missing events' }
    }
    if (this.queue.length === 0) this.queue.push(...(await this.nextAction.drafts(this.index, this.clock.nowUs)))
    const draft = this.queue.shift()!
    const seq = this.seq++
    const account = this.population.accounts[draft.account]!
    switch (draft.type) {
      case 'commit': {
        const rev = account.tids.next(this.clock.nowUs)
        return { ...base, type: 'commit', seq, account: draft.account, rev, writes: draft.writes, first: draft.first === true }
      }
      case 'sync':
        return { ...base, type: 'sync', seq, account: draft.account, rev: account.tids.next(this.clock.nowUs) }
      default:
        return { ...base, ...draft, seq }
    }
  }
}

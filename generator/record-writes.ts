import type { SeededRandom } from '../common/random.js'
import type { RecordWrite } from './account-repo.js'
import { POST_SHAPES, type Action } from './mix.js'
import type { MultiWrites } from './multi-writes.js'
import type { Population } from './population.js'
import type { PostWriter } from './post-writer.js'
import * as records from './records.js'
import { POST } from './records.js'
import { takeOwned } from './world.js'

const RECORD_ACTIONS = ['like', 'repost', 'follow', 'block', 'post', 'delete', 'profile', 'list', 'listitem', 'multi'] as const satisfies readonly Action[]
/** The actions that are a commit of the acting account's records. */
export type RecordAction = (typeof RECORD_ACTIONS)[number]

export function isRecordAction(action: Action): action is RecordAction {
  return (RECORD_ACTIONS as readonly Action[]).includes(action)
}

/** What a record action writes: the ops of one commit. */
export class RecordWrites {
  constructor(
    private readonly random: SeededRandom,
    private readonly population: Population,
    private readonly posts: PostWriter,
    private readonly multi: MultiWrites,
  ) {}

  /**
   * The writes of `actor`'s commit for `action`, or null if it cannot be done now (no post to
   * like, nothing to delete, no list to add to). `rkey` gives the next record key.
   */
  async write(action: RecordAction, actor: number, createdAtMs: number, rkey: () => string): Promise<RecordWrite[] | null> {
    const { random, population } = this
    const account = population.accounts[actor]!
    switch (action) {
      case 'like':
      case 'repost': {
        const target = population.pool.pick(random, population.isLive)
        if (!target) return null
        const record = action === 'like' ? records.like(target.ref, createdAtMs) : records.repost(target.ref, createdAtMs)
        return [population.create(actor, record, rkey())]
      }
      case 'follow':
      case 'block': {
        const subject = population.otherAccount(random, actor)
        const record = action === 'follow' ? records.follow(subject, createdAtMs) : records.block(subject, createdAtMs)
        return [population.create(actor, record, rkey())]
      }
      case 'post':
        return [(await this.posts.write(actor, createdAtMs, rkey(), random.weighted(POST_SHAPES))).write]
      case 'delete': {
        const owned = takeOwned(account, random)
        if (!owned) return null
        if (owned.collection === POST) population.pool.markDeleted(`at://${account.identity.did}/${POST}/${owned.rkey}`)
        return [{ action: 'delete', collection: owned.collection, rkey: owned.rkey }]
      }
      case 'profile':
        return [{ action: 'update', collection: 'app.bsky.actor.profile', rkey: 'self', record: records.profile(random, account.displayName, createdAtMs) }]
      case 'list':
        return [population.newList(random, actor, createdAtMs, rkey())]
      case 'listitem': {
        if (account.lists.length === 0) return null
        const record = records.listItem(random.pick(account.lists), population.otherAccount(random, actor), createdAtMs)
        return [population.create(actor, record, rkey())]
      }
      case 'multi':
        return this.multi.write(actor, createdAtMs, rkey)
    }
  }
}

import type { SeededRandom } from '../common/random.js'
import type { RecordWrite } from './account-repo.js'
import type { POST_SHAPES } from './mix.js'
import type { Population } from './population.js'
import * as records from './records.js'
import { POST, type StrongRef } from './records.js'
import { strongRef } from './world.js'

/** A post and the thread it belongs to. */
export interface ThreadPosition {
  ref: StrongRef
  root: StrongRef
}

/** Writes new posts: plain, replies and quotes of recent posts, or the next post of a thread. */
export class PostWriter {
  constructor(
    private readonly random: SeededRandom,
    private readonly population: Population,
  ) {}

  /** A post by `actor`, added to the recent posts; with `parent`, a reply to it whatever the shape. */
  async write(actor: number, createdAtMs: number, rkey: string, shape: keyof typeof POST_SHAPES, parent?: ThreadPosition): Promise<ThreadPosition & { write: RecordWrite }> {
    const did = this.population.accounts[actor]!.identity.did
    let reply: { root: StrongRef; parent: StrongRef } | undefined
    let quote: StrongRef | undefined
    if (parent) {
      reply = { root: parent.root, parent: parent.ref }
    } else if (shape !== 'plain') {
      const target = this.population.pool.pick(this.random, this.population.isLive)
      if (target && shape === 'reply') reply = { root: target.root, parent: target.ref }
      if (target && shape === 'quote') quote = target.ref
    }
    const mentionable = this.population.mentionable(this.random, actor)
    const record = records.post(this.random, { createdAtMs, mentionable, ...(reply ? { reply } : {}), ...(quote ? { quote } : {}) })
    const ref = await strongRef(did, POST, rkey, record)
    const root = reply?.root ?? ref
    this.population.pool.add({ ref, author: actor, root })
    return { write: this.population.create(actor, record, rkey), ref, root }
  }
}

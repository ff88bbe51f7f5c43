import type { SeededRandom } from '../common/random.js'
import type { RecordWrite } from './account-repo.js'
import { MULTI_WEIGHTS } from './mix.js'
import type { Population } from './population.js'
import type { PostWriter, ThreadPosition } from './post-writer.js'
import * as records from './records.js'
import { POST, type LexRecord } from './records.js'

/** Commits of several writes at once (one applyWrites call): threads, gated posts, "follow all", filled lists. */
export class MultiWrites {
  constructor(
    private readonly random: SeededRandom,
    private readonly population: Population,
    private readonly posts: PostWriter,
  ) {}

  /** The writes of one such commit by `actor`, of a kind drawn by MULTI_WEIGHTS. */
  async write(actor: number, createdAtMs: number, rkey: () => string): Promise<RecordWrite[]> {
    switch (this.random.weighted(MULTI_WEIGHTS)) {
      case 'thread':
        return this.thread(actor, createdAtMs, rkey)
      case 'postWithGate': {
        const key = rkey()
        const { write: post } = await this.posts.write(actor, createdAtMs, key, 'plain')
        const allow = this.random.pick([[], [{ $type: 'app.bsky.feed.threadgate#followingRule' }], [{ $type: 'app.bsky.feed.threadgate#mentionRule' }]])
        const did = this.population.accounts[actor]!.identity.did
        const gate: LexRecord = { $type: 'app.bsky.feed.threadgate', post: `at://${did}/${POST}/${key}`, allow, createdAt: records.isoTime(createdAtMs) }
        return [post, { action: 'create', collection: gate.$type, rkey: key, record: gate }]
      }
      case 'followAll': {
        const subjects = this.others(actor, this.random.int(20, 150))
        return subjects.map((subject) => this.population.create(actor, records.follow(subject, createdAtMs), rkey()))
      }
      case 'listWithItems': {
        const list = this.population.newList(this.random, actor, createdAtMs, rkey())
        const listUri = `at://${this.population.accounts[actor]!.identity.did}/app.bsky.graph.list/${list.rkey}`
        const members = this.others(actor, this.random.int(5, 40))
        return [list, ...members.map((subject) => this.population.create(actor, records.listItem(listUri, subject, createdAtMs), rkey()))]
      }
    }
  }

  /** 2-5 self-replies written in one go. */
  private async thread(actor: number, createdAtMs: number, rkey: () => string): Promise<RecordWrite[]> {
    const writes: RecordWrite[] = []
    let parent: ThreadPosition | undefined
    const length = this.random.int(2, 5)
    for (let k = 0; k < length; k++) {
      const posted = await this.posts.write(actor, createdAtMs + k, rkey(), 'plain', parent)
      parent = { ref: posted.ref, root: posted.root }
      writes.push(posted.write)
    }
    return writes
  }

  /** Up to `wanted` distinct other accounts' DIDs (as many as the world has), drawn by popularity. */
  private others(actor: number, wanted: number): string[] {
    const count = Math.min(wanted, this.population.accounts.length - 1)
    const dids = new Set<string>()
    for (let k = 0; k < count * 2 && dids.size < count; k++) dids.add(this.population.otherAccount(this.random, actor))
    return [...dids]
  }
}

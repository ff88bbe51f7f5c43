import type { SeededRandom } from '../common/random.js'
import type { RecordWrite } from './account-repo.js'
import { PRELOAD, PRELOAD_OTHER, PRELOAD_POST_SHARE } from './mix.js'
import type { PlanOptions } from './plan-types.js'
import type { Population } from './population.js'
import * as records from './records.js'
import { POST, type LexRecord, type StrongRef } from './records.js'
import { streamFor } from './seeds.js'
import { tidFromTime } from './tid.js'
import { rememberOwned, strongRef } from './world.js'

/**
 * The repositories accounts had before the fixture starts. Each account draws from its own
 * streams at the start time, so what it had does not depend on when it is generated.
 */
export class Preload {
  /** Strong refs of every account's pre-existing posts (what pre-existing likes and reposts point at). */
  private readonly postRefs: StrongRef[][] = []
  /**
   * Accounts whose other pre-existing records are not generated yet, with their pre-existing
   * posts: that happens when the account first acts (most never do in a short fixture).
   */
  private readonly unfinished = new Map<number, RecordWrite[]>()

  private constructor(
    private readonly options: Pick<PlanOptions, 'seed' | 'medianRecords'>,
    private readonly startUs: number,
    private readonly population: Population,
    private readonly keep: (account: number) => boolean,
  ) {}

  /** Writes every existing account's pre-existing posts; `keep(i)` says whose records to keep (the shard's own). */
  static async build(options: Pick<PlanOptions, 'seed' | 'medianRecords'>, startUs: number, population: Population, keep: (account: number) => boolean): Promise<Preload> {
    const preload = new Preload(options, startUs, population, keep)
    // Posts first, for everyone, so that pre-existing likes and reposts can point at any of them.
    for (let i = 0; i < population.existing; i++) {
      const posts = await preload.posts(i)
      preload.postRefs.push(posts.refs)
      preload.unfinished.set(i, keep(i) ? posts.records : [])
    }
    return preload
  }

  /** Completes account i's pre-existing repo (see `unfinished`); true when it did, false once done or for accounts created during the fixture. */
  async ensure(i: number): Promise<boolean> {
    const posts = this.unfinished.get(i)
    if (posts === undefined) return false
    this.unfinished.delete(i)
    const account = this.population.accounts[i]!
    const rest = await this.rest(i)
    const random = streamFor(this.options.seed, 'preload-rev', i)
    const revUs = this.startUs - random.int(1, 3600) * 1_000_000
    account.tids.next(revUs - 1)
    account.preload = { records: this.keep(i) ? [...posts, ...rest] : [], rev: account.tids.next(revUs) }
    return true
  }

  private count(random: SeededRandom): number {
    // Box-Muller normal -> log-normal record count.
    const normal = Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next())
    const n = Math.round(Math.exp(Math.log(this.options.medianRecords) + PRELOAD.sigma * normal))
    return Math.min(PRELOAD.maxRecords, Math.max(PRELOAD.minRecords, n))
  }

  /** Pre-existing posts of account i, with their strong refs. */
  private async posts(i: number): Promise<{ refs: StrongRef[]; records: RecordWrite[] }> {
    const random = streamFor(this.options.seed, 'preload-posts', i)
    const account = this.population.accounts[i]!
    const n = Math.max(1, Math.round(this.count(random) * PRELOAD_POST_SHARE))
    const refs: StrongRef[] = []
    const writes: RecordWrite[] = []
    const keys = new Set<string>()
    for (let k = 0; k < n; k++) {
      const timeUs = this.historyTime(random)
      const rkey = uniqueTid(keys, timeUs, account.identity.clockId)
      const record = records.post(random, { createdAtMs: timeUs / 1000, mentionable: () => null })
      const ref = await strongRef(account.identity.did, POST, rkey, record)
      refs.push(ref)
      writes.push({ action: 'create', collection: POST, rkey, record })
      rememberOwned(account, { collection: POST, rkey })
      this.population.pool.add({ ref, author: i, root: ref })
    }
    return { refs, records: writes }
  }

  /** Everything else account i had written before the fixture: profile, likes, follows, ... */
  private async rest(i: number): Promise<RecordWrite[]> {
    const random = streamFor(this.options.seed, 'preload-rest', i)
    const account = this.population.accounts[i]!
    const did = account.identity.did
    const writes: RecordWrite[] = [{ action: 'create', collection: 'app.bsky.actor.profile', rkey: 'self', record: records.profile(random, account.displayName, this.historyTime(random) / 1000) }]
    const n = Math.round(this.count(random) * (1 - PRELOAD_POST_SHARE))
    const keys = new Set<string>()
    for (let k = 0; k < n; k++) {
      const timeUs = this.historyTime(random)
      const createdAtMs = timeUs / 1000
      const rkey = uniqueTid(keys, timeUs, account.identity.clockId)
      const kind = random.weighted(PRELOAD_OTHER)
      let record: LexRecord
      if (kind === 'like' || kind === 'repost') {
        const subject = random.pick(this.postRefs[random.int(0, this.postRefs.length - 1)]!)
        record = kind === 'repost' ? records.repost(subject, createdAtMs) : records.like(subject, createdAtMs)
      } else if (kind === 'listitem') {
        if (account.lists.length === 0) {
          const listKey = uniqueTid(keys, timeUs - 1, account.identity.clockId)
          writes.push({ action: 'create', collection: 'app.bsky.graph.list', rkey: listKey, record: records.list(random, createdAtMs) })
          account.lists.push(`at://${did}/app.bsky.graph.list/${listKey}`)
        }
        record = records.listItem(account.lists[0]!, this.population.otherAccount(random, i), createdAtMs)
      } else {
        const subject = this.population.otherAccount(random, i)
        record = kind === 'block' ? records.block(subject, createdAtMs) : records.follow(subject, createdAtMs)
      }
      writes.push({ action: 'create', collection: record.$type, rkey, record })
      if (record.$type !== 'app.bsky.graph.listitem') rememberOwned(account, { collection: record.$type, rkey })
    }
    return writes
  }

  private historyTime(random: SeededRandom): number {
    return this.startUs - 3600e6 * 2 - Math.floor(random.next() * PRELOAD.historyDays * 86_400e6)
  }
}

/** A TID for a pre-existing record, moved on by a microsecond if another record drew the same time. */
function uniqueTid(taken: Set<string>, timeUs: number, clockId: number): string {
  let t = timeUs
  let key = tidFromTime(t, clockId)
  while (taken.has(key)) key = tidFromTime(++t, clockId)
  taken.add(key)
  return key
}

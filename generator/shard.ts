import type { Secp256k1Keypair } from '@atproto/crypto'
import { AccountRepo } from './account-repo.js'
import { accountFrame, commitFrame, identityFrame, infoFrame, syncFrame } from './frames.js'
import { didDocument, importKeypair } from './identity.js'
import type { PlanOptions, PlannedEvent } from './plan-types.js'
import { Planner } from './planner.js'

/** A generated frame with its place in the fixture. */
export interface ShardFrame {
  index: number
  receivedUs: number
  bytes: Uint8Array
}

/**
 * Runs the whole plan but builds only the frames of its own accounts (account % shardCount),
 * so shards can run in parallel threads and still agree byte for byte: an account's repo
 * depends only on its own events. Shard 0 also builds the accountless #info frames.
 */
export class Shard {
  private readonly repos = new Map<number, AccountRepo>()
  private readonly keypairs = new Map<number, Secp256k1Keypair>()

  private constructor(
    private readonly planner: Planner,
    private readonly shard: number,
    private readonly shardCount: number,
  ) {}

  static async create(options: PlanOptions, shard: number, shardCount: number): Promise<Shard> {
    const owns = (account: number): boolean => account % shardCount === shard
    return new Shard(await Planner.create(options, owns), shard, shardCount)
  }

  private owns(account: number): boolean {
    return account < 0 ? this.shard === 0 : account % this.shardCount === this.shard
  }

  /** Plans events up to (not including) `end` and returns this shard's frames among them, in order. */
  async runUntil(end: number): Promise<ShardFrame[]> {
    const out: ShardFrame[] = []
    while (!this.planner.done && this.planner.nextIndex < end) {
      const event = await this.planner.next()
      if (!this.owns(event.account)) continue
      out.push({ index: event.index, receivedUs: event.receivedUs, bytes: await this.build(event) })
    }
    return out
  }

  /** DID documents of every account with its final handle (any shard can answer: all run the full plan). */
  async didDocuments(): Promise<Record<string, Record<string, unknown>>> {
    const docs: Record<string, Record<string, unknown>> = {}
    for (const [i, account] of this.planner.accounts.entries()) {
      docs[account.identity.did] = didDocument(account.identity, account.handle, await this.keypair(i))
    }
    return docs
  }

  private async keypair(account: number): Promise<Secp256k1Keypair> {
    let keypair = this.keypairs.get(account)
    if (!keypair) {
      keypair = await importKeypair(this.planner.accounts[account]!.identity)
      this.keypairs.set(account, keypair)
    }
    return keypair
  }

  /** The account's repo, built from its pre-existing records on first use. */
  private async repo(account: number): Promise<AccountRepo> {
    let repo = this.repos.get(account)
    if (!repo) {
      const state = this.planner.accounts[account]!
      if (!state.preload) throw new Error(`account ${account} has no repository before its first commit`)
      repo = (await AccountRepo.create(state.identity.did, await this.keypair(account), state.preload.records, state.preload.rev, false)).repo
      state.preload = { records: [], rev: state.preload.rev } // built; let the records go
      this.repos.set(account, repo)
    }
    return repo
  }

  private async build(event: PlannedEvent): Promise<Uint8Array> {
    if (event.type === 'info') return infoFrame(event)
    const did = this.planner.accounts[event.account]!.identity.did
    switch (event.type) {
      case 'commit': {
        if (event.first) {
          const created = await AccountRepo.create(did, await this.keypair(event.account), event.writes, event.rev, true)
          this.repos.set(event.account, created.repo)
          const state = this.planner.accounts[event.account]!
          if (state.preload) state.preload = { records: [], rev: state.preload.rev } // built; let the records go
          return commitFrame(event, did, created.commit!)
        }
        const repo = await this.repo(event.account)
        return commitFrame(event, did, await repo.commit(event.writes, event.rev))
      }
      case 'sync': {
        const { car } = await (await this.repo(event.account)).resign(event.rev)
        return syncFrame(event, did, car)
      }
      case 'identity':
        return identityFrame(event, did)
      case 'account':
        return accountFrame(event, did)
    }
  }
}

import { Secp256k1Keypair, type Keypair } from '@atproto/crypto'
import { BlockMap, MemoryBlockstore, Repo, readCarWithRoot, signCommit } from '@atproto/repo'
import type { SeededRandom } from '../common/random.js'
import { CarBuilder } from '../protocol/car-writer.js'
import { exportable, type RepoEntry, type RepoHead } from './repo-book.js'
import { exportRepo } from './repo-export.js'
import { revAfter } from './repo-fault-frames.js'

/** A repo as a PDS reset it: its new head, and the blocks to serve and announce it with. */
export interface RepoReset {
  head: RepoHead
  /** The new commit block and the MST nodes the removals made: what the repo book adds to the repo's blocks. */
  car: Uint8Array
  /** The new commit block alone: a #sync frame's `blocks`. */
  commitCar: Uint8Array
  /** Paths of the records removed, in key order. */
  removed: string[]
}

/**
 * The repo reset: `removeRecords` of its records (default half, rounded up; a seeded pick; at most
 * all of them) deleted from its MST with @atproto/repo, committed at the least rev above its head
 * (so every later commit of the same PDS clock still orders after it) and signed with `key`.
 * A repo without records stays at its root: its reset is a re-signing (a rev-only #sync).
 * Throws REPLAY_REPO_UNEXPORTABLE for a repo the replay cannot export.
 */
export async function resetRepo(repo: RepoEntry, key: Keypair, random: SeededRandom, removeRecords?: number): Promise<RepoReset> {
  const blocks = exportRepo(exportable(repo))
  const whole = new CarBuilder()
  for (const block of blocks) whole.add(block.cid, block.bytes)
  const { root, blocks: stored } = await readCarWithRoot(whole.encode(blocks[0]!.cid))
  const current = await Repo.load(new MemoryBlockstore(stored), root)
  const paths = blocks.flatMap((block) => (block.kind === 'record' ? [block.key!] : []))
  const removed = pickSome(paths, Math.min(paths.length, removeRecords ?? Math.ceil(paths.length / 2)), random)
  let data = current.data
  for (const path of removed) data = await data.delete(path)
  const { root: dataCid, blocks: nodes } = await data.getUnstoredBlocks()
  const rev = revAfter(repo.head!.rev)
  const commit = new BlockMap()
  const cid = await commit.add(await signCommit({ did: repo.did, version: 3, rev, prev: null, data: dataCid }, key))
  const commitBytes = commit.get(cid)!
  const car = new CarBuilder().add(cid, commitBytes)
  nodes.forEach((bytes: Uint8Array, node) => car.add(node, bytes))
  return { head: { cid: cid.bytes, rev }, car: car.encode(cid), commitCar: new CarBuilder().add(cid, commitBytes).encode(cid), removed }
}

/** A secp256k1 signing key from its 32 private bytes. */
export function importKey(privateKey: Uint8Array): Promise<Keypair> {
  return Secp256k1Keypair.import(privateKey)
}

/** `count` of `items` picked with the seeded source (a partial Fisher-Yates shuffle), in their original order. */
function pickSome(items: readonly string[], count: number, random: SeededRandom): string[] {
  const order = items.map((_, i) => i)
  for (let i = 0; i < count; i++) {
    const j = random.int(i, order.length - 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  return order
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => items[i]!)
}

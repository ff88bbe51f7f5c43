import { BlockMap, MST, ReadableBlockstore } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import type { CarBlocks } from '../protocol/car.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { VerifyError, VerifyErrorCode } from '../ingestor/verify/errors.js'
import type { SignedCommit } from '../protocol/repo-commit.js'
import { sameCid, type SignedFrame } from '../ingestor/verify/signed-frame.js'

/** The CID type @atproto/repo takes and returns (multiformats CIDs under its own interface). */
type RepoCid = Parameters<ReadableBlockstore['getBytes']>[0]

/**
 * The peer of bench/mst-proof.ts (and of test/ingestor/verify-mst.test.ts's cross-checks): the
 * verifier's MST half as it was before ingestor/verify/mst-proof.ts walked the tree on CID bytes.
 *
 * Checks a #commit's ops against the signed MST root with @atproto/repo's MST (as
 * @atproto/repo verifyProofs does, on our CAR reader): every op's path must map to its cid in the
 * tree under `commit.data` (a delete: to nothing). With sync 1.1 `prevData`, the ops are then
 * inverted on that tree and the result must hash to `prevData`, which proves the op list is the
 * whole change (the "inductive" check). A block the walk needs and the CAR lacks fails the proof.
 * tooBig commits (sync 1.0, blocks omitted) are not checked here. Throws VerifyError BadProof.
 */
export async function verifyOps(frame: SignedFrame, commit: SignedCommit): Promise<void> {
  if (frame.ops === null || frame.tooBig) return
  const fail = (message: string): VerifyError => new VerifyError(VerifyErrorCode.BadProof, message, { seq: frame.seq, did: frame.did })
  const store = new CarBlockstore(frame.car)
  try {
    let tree = MST.load(store, commit.data)
    for (const op of frame.ops) {
      const found = (await tree.get(op.path)) as CID | null
      const expected = op.action === 'delete' ? null : op.cid
      if (expected === null ? found !== null : found === null || !sameCid(found, expected)) {
        throw fail(`op ${op.action} ${op.path}: the signed tree holds ${found?.toString() ?? 'nothing'} there, the op says ${expected?.toString() ?? 'nothing'}`)
      }
    }
    if (frame.prevData === null) return
    for (const op of [...frame.ops].reverse()) {
      if (op.action === 'create') tree = await tree.delete(op.path)
      else if (op.prev === null) throw fail(`op ${op.action} ${op.path} has no prev: cannot invert it to prevData`)
      else if (op.action === 'update') tree = await tree.update(op.path, op.prev)
      else tree = await tree.add(op.path, op.prev)
    }
    const before = (await tree.getPointer()) as CID
    if (!sameCid(before, frame.prevData)) throw fail(`inverting the ops gives root ${before}, not prevData ${frame.prevData}: the ops are not the whole change`)
  } catch (err) {
    if (err instanceof VerifyError) throw err
    // A missing block (MissingBlockError), a block that does not hash to its CID, a malformed node.
    const reason = isFrameDecodeError(err) ? err.message : `${(err as Error).name}: ${(err as Error).message}`
    throw fail(`MST proof does not hold: ${reason}`)
  }
}

/** The frame's CAR as a read-only blockstore for @atproto/repo's MST (blocks hashed on first read). */
class CarBlockstore extends ReadableBlockstore {
  constructor(private readonly car: CarBlocks) {
    super()
  }

  async getBytes(cid: RepoCid): Promise<Uint8Array | null> {
    return this.car.get(cid) ?? null
  }

  async has(cid: RepoCid): Promise<boolean> {
    return this.car.get(cid) !== undefined
  }

  async getBlocks(cids: RepoCid[]): Promise<{ blocks: BlockMap; missing: RepoCid[] }> {
    const blocks = new BlockMap()
    const missing: RepoCid[] = []
    for (const cid of cids) {
      const bytes = this.car.get(cid)
      if (bytes === undefined) missing.push(cid)
      else blocks.set(cid, bytes)
    }
    return { blocks, missing }
  }
}

import type { CarBlocks } from '../../protocol/car.js'
import type { SignedCommit } from '../../protocol/repo-commit.js'
import { VerifyError, VerifyErrorCode } from './errors.js'
import { cidText } from './mst-node.js'
import { PartialMst } from './mst-tree.js'
import type { SignedFrame } from './signed-frame.js'

/**
 * Checks a #commit's ops against the signed MST root (as @atproto/repo verifyProofs does, on
 * the CAR's blocks): every op's path must map to its cid in the tree under `commit.data` (a
 * delete: to nothing). With sync 1.1 `prevData`, the ops are then inverted on that tree and the
 * result must hash to `prevData`, which proves the op list is the whole change (the "inductive"
 * check). Every block the walk reads is hashed against its CID; one it needs and the CAR lacks
 * fails the proof. tooBig commits (sync 1.0, blocks omitted) are not checked here.
 * Throws VerifyError BadProof. Synchronous work (PartialMst); async for its callers' sake.
 */
export async function verifyOps(frame: SignedFrame, commit: SignedCommit): Promise<void> {
  if (frame.ops === null || frame.tooBig) return
  const fields = { seq: frame.seq, did: frame.did }
  const fail = (message: string): VerifyError => new VerifyError(VerifyErrorCode.BadProof, message, fields)
  const tree = new PartialMst(blockReader(frame.car), commit.data.bytes, fields)
  for (const op of frame.ops) {
    const found = tree.get(op.path)
    const expected = op.action === 'delete' ? null : op.cid
    if (expected === null ? found !== null : found === null || !sameBytes(found, expected.bytes)) {
      throw fail(`op ${op.action} ${op.path}: the signed tree holds ${found === null ? 'nothing' : cidText(found)} there, the op says ${expected?.toString() ?? 'nothing'}`)
    }
  }
  if (frame.prevData === null) return
  for (let i = frame.ops.length - 1; i >= 0; i--) {
    const op = frame.ops[i]!
    if (op.action === 'create') tree.delete(op.path)
    else if (op.prev === null) throw fail(`op ${op.action} ${op.path} has no prev: cannot invert it to prevData`)
    else if (op.action === 'update') tree.update(op.path, op.prev.bytes)
    else tree.add(op.path, op.prev.bytes)
  }
  const before = tree.rootCid()
  if (!sameBytes(before, frame.prevData.bytes)) throw fail(`inverting the ops gives root ${cidText(before)}, not prevData ${frame.prevData}: the ops are not the whole change`)
}

/** CarBlocks.get reads only `cid.bytes`: a CID object per lookup is the allocation this path avoids. */
function blockReader(car: CarBlocks): (cid: Uint8Array) => Uint8Array | undefined {
  return (bytes) => car.get({ bytes })
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

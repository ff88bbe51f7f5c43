import { CID } from 'multiformats/cid'
import { readCar, type CarBlocks } from '../../protocol/car.js'
import { isFrameDecodeError } from '../../protocol/errors.js'
import { decodeFrame } from '../../protocol/frame.js'
import { peekFrameAccount } from '../../protocol/peek.js'
import type { SignedCommit } from '../../protocol/repo-commit.js'
import { readCommitBlock, type CommitBlock } from './commit-block.js'
import { VerifyError, VerifyErrorCode } from './errors.js'

/** One op of a #commit as the proof checks need it (CIDs as CID objects, not strings). */
export interface SignedOp {
  action: string
  path: string
  cid: CID | null
  /** sync 1.1: the record CID before an update or delete. */
  prev: CID | null
}

/**
 * The part of a #commit or #sync frame a signature covers, read from the frame without the
 * decoder's JSON work. `ops` and `prevData` are null on #sync (it carries only the commit block).
 */
export interface SignedFrame {
  t: '#commit' | '#sync'
  seq: number | null
  /** The account the frame claims: `repo` (#commit) or `did` (#sync). */
  did: string
  rev: string
  /** The frame's `commit` CID; #sync has none and names its commit by the CAR root. */
  commit: CID | null
  car: CarBlocks
  ops: SignedOp[] | null
  prevData: CID | null
  tooBig: boolean
}

/** An #identity frame: nothing signed, but the account's DID document may have changed. */
export interface IdentityFrame {
  t: '#identity'
  did: string
}

/** Whose key a frame needs (#commit, #sync) or whose cached key it ends (#identity). */
export interface FrameSigner {
  t: '#commit' | '#sync' | '#identity'
  did: string
  seq: number | null
}

/**
 * A frame's signer, read in place (peekFrameAccount): what the main thread resolves keys by
 * without decoding blocks or ops; the checks read the rest in a worker (readSignedFrame). null for
 * any other frame or one that does not parse; a frame the checks then cannot read gets no
 * verdict, and the decoder judges it.
 */
export function readSigner(bytes: Uint8Array): FrameSigner | null {
  try {
    const { op, t, seq, did } = peekFrameAccount(bytes)
    if (op !== 1 || did === undefined || (t !== '#commit' && t !== '#sync' && t !== '#identity')) return null
    return { t, did, seq: seq ?? null }
  } catch (err) {
    if (isFrameDecodeError(err)) return null
    throw err
  }
}

/**
 * The signed part of a frame, the DID of an #identity frame, or null when the frame carries no
 * signature (#account, #info, unknown types) or does not decode: the decoder quarantines those with its own code.
 * Blocks are hashed against their CID when read (the 'records' mode of protocol/car.ts), so
 * every block a proof walks is checked whatever --verify-blocks says.
 */
export function readSignedFrame(bytes: Uint8Array): SignedFrame | IdentityFrame | null {
  try {
    const { header, body } = decodeFrame(bytes)
    if (header.op !== 1) return null
    if (header.t === '#identity') return typeof body.did === 'string' ? { t: '#identity', did: body.did } : null
    if (header.t !== '#commit' && header.t !== '#sync') return null
    const seq = typeof body.seq === 'number' ? body.seq : null
    const did = header.t === '#commit' ? body.repo : body.did
    if (typeof did !== 'string' || typeof body.rev !== 'string' || !(body.blocks instanceof Uint8Array)) return null
    const car = readCar(body.blocks, 'records', { seq })
    if (header.t === '#sync') return { t: '#sync', seq, did, rev: body.rev, commit: null, car, ops: null, prevData: null, tooBig: false }
    const commit = CID.asCID(body.commit)
    if (commit === null || !Array.isArray(body.ops)) return null
    const ops = body.ops.map((raw): SignedOp => {
      const op = raw as Record<string, unknown>
      return { action: String(op.action), path: String(op.path), cid: CID.asCID(op.cid), prev: CID.asCID(op.prev) }
    })
    return { t: '#commit', seq, did, rev: body.rev, commit, car, ops, prevData: CID.asCID(body.prevData), tooBig: body.tooBig === true }
  } catch (err) {
    if (isFrameDecodeError(err)) return null
    throw err
  }
}

/**
 * The frame's commit block, checked against the frame: it is the CAR root (and the `commit` CID
 * of a #commit), a v3 commit, for the frame's DID and rev; with the bytes its `sig` signs
 * (commit-block.ts). Throws VerifyError.
 */
export function readSignedCommit(frame: SignedFrame): CommitBlock {
  const fail = (code: VerifyErrorCode, message: string): VerifyError => new VerifyError(code, message, { seq: frame.seq, did: frame.did })
  const root = frame.car.roots[0]
  if (root === undefined || frame.car.roots.length !== 1) throw fail(VerifyErrorCode.BadCommit, `${frame.t} CAR has ${frame.car.roots.length} roots, expected the commit alone`)
  if (frame.commit !== null && !sameCid(root, frame.commit)) throw fail(VerifyErrorCode.BadCommit, `CAR root ${root} is not the frame's commit ${frame.commit}`)
  let read: CommitBlock | null
  try {
    const block = frame.car.get(root)
    if (block === undefined) throw fail(VerifyErrorCode.BadCommit, `commit block ${root} is missing from the CAR`)
    read = readCommitBlock(block)
  } catch (err) {
    if (err instanceof VerifyError) throw err
    throw fail(VerifyErrorCode.BadCommit, `commit block ${root} unreadable: ${(err as Error).message}`)
  }
  if (read === null) throw fail(VerifyErrorCode.BadCommit, `block ${root} is not a v3 repo commit`)
  const { commit } = read
  if (commit.did !== frame.did) throw fail(VerifyErrorCode.DidMismatch, `commit is signed for ${commit.did}, frame says ${frame.did}`)
  if (commit.rev !== frame.rev) throw fail(VerifyErrorCode.BadCommit, `commit rev ${commit.rev} differs from the frame's rev ${frame.rev}`)
  return read
}

/** readSignedCommit's commit alone. */
export function readCommit(frame: SignedFrame): SignedCommit {
  return readSignedCommit(frame).commit
}

export function sameCid(a: CID, b: CID): boolean {
  const x = a.bytes
  const y = b.bytes
  if (x.byteLength !== y.byteLength) return false
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false
  return true
}

import * as dagCbor from '@ipld/dag-cbor'
import { scanCborItem } from '../protocol/cbor-scan.js'
import { DEFAULT_MAX_DEPTH, encodeFrame } from '../protocol/frame.js'
import { readTidBytes, writeTidBytes } from '../repo-sync/tid.js'

/**
 * Frames and revs the repo faults make (docs/replay.md "Faults"): a recorded #commit with another
 * rev, and #account and #sync frames of their own. Made with `seq: 0`: each client's frames get
 * their seq when they are sent (repo-fault-lane.ts).
 */

const CLOCK_BITS = 10n
const CLOCK_MASK = (1n << CLOCK_BITS) - 1n

function tidValue(rev: string): bigint {
  const bytes = new Uint8Array(8)
  writeTidBytes(rev, bytes, 0)
  return new DataView(bytes.buffer).getBigUint64(0)
}

function tidOf(value: bigint): string {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, value)
  return readTidBytes(bytes, 0)
}

/** The TID `aheadSec` seconds after `nowMs`, with `rev`'s clock id: what a PDS whose clock runs ahead would write. */
export function futureRev(rev: string, nowMs: number, aheadSec: number): string {
  const us = BigInt(Math.floor(nowMs * 1000)) + BigInt(aheadSec) * 1_000_000n
  return tidOf((us << CLOCK_BITS) | (tidValue(rev) & CLOCK_MASK))
}

/** The least TID above `rev` (its value + 1): every later rev of the same PDS clock is above it too, so it fits between a repo's head and its next commit. */
export function revAfter(rev: string): string {
  return tidOf(tidValue(rev) + 1n)
}

/** The #commit frame with its body's `rev` replaced (everything else as it was; the commit block in `blocks` keeps its own rev). Null when the frame is not a #commit. */
export function withCommitRev(frame: Uint8Array, rev: string): Uint8Array | null {
  const bodyStart = scanCborItem(frame, 0, DEFAULT_MAX_DEPTH)
  const header = dagCbor.decode<Record<string, unknown>>(frame.subarray(0, bodyStart))
  if (header.op !== 1 || header.t !== '#commit') return null
  const body = dagCbor.decode<Record<string, unknown>>(frame.subarray(bodyStart))
  return encodeFrame({ op: 1, t: '#commit' }, { ...body, rev })
}

/** An #account frame: `active: false` with a status (takendown, ...), or `active: true`. */
export function accountFrame(did: string, active: boolean, status?: string): Uint8Array {
  const body: Record<string, unknown> = { seq: 0, did, time: new Date().toISOString(), active }
  if (!active && status !== undefined) body.status = status
  return encodeFrame({ op: 1, t: '#account' }, body)
}

/** A #sync frame: `blocks` is a CAR of the repo's new commit block alone, as a PDS sends it. */
export function syncFrame(did: string, rev: string, blocks: Uint8Array): Uint8Array {
  return encodeFrame({ op: 1, t: '#sync' }, { seq: 0, did, blocks, rev, time: new Date().toISOString() })
}

import { createHash } from 'node:crypto'
import { CarBufferReader } from '@ipld/car/buffer-reader'
import type { CID } from 'multiformats/cid'
import { FrameDecodeError, FrameErrorCode } from './errors.js'

const SHA2_256 = 0x12

export interface CarBlocks {
  roots: CID[]
  /** Block bytes keyed by CID string. */
  blocks: Map<string, Uint8Array>
}

/**
 * Reads a CAR v1 byte array (a commit's `blocks`). With `verify`, every block must hash
 * (sha2-256) to its CID, so a relay cannot hand us a record that its commit does not sign.
 */
export function readCar(bytes: Uint8Array, verify: boolean, fields: Record<string, unknown> = {}): CarBlocks {
  let reader: CarBufferReader
  try {
    reader = CarBufferReader.fromBytes(bytes)
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new FrameDecodeError(FrameErrorCode.BadCar, `invalid CAR: ${reason}`, fields, { cause })
  }
  const blocks = new Map<string, Uint8Array>()
  for (const { cid, bytes: data } of reader.blocks()) {
    const key = cid.toString()
    if (verify) verifyBlock(cid, key, data, fields)
    blocks.set(key, data)
  }
  return { roots: reader.getRoots(), blocks }
}

function verifyBlock(cid: CID, key: string, data: Uint8Array, fields: Record<string, unknown>): void {
  if (cid.multihash.code !== SHA2_256) {
    throw new FrameDecodeError(FrameErrorCode.BadCar, `block ${key} uses unsupported hash 0x${cid.multihash.code.toString(16)}`, { ...fields, cid: key })
  }
  const digest = createHash('sha256').update(data).digest()
  if (!digest.equals(cid.multihash.digest)) {
    throw new FrameDecodeError(FrameErrorCode.BlockHashMismatch, `block ${key} does not hash to its CID`, { ...fields, cid: key })
  }
}

import { CarBufferReader } from '@ipld/car/buffer-reader'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { readCar } from '../../protocol/car.js'
import { FrameErrorCode } from '../../protocol/errors.js'
import { decodeFrame } from '../../protocol/frame.js'
import { allRealFrames, blockOf, carOf, concat, expectFrameError, hex } from './helpers.js'

describe('readCar', () => {
  it('finds exactly the blocks and roots @ipld/car finds, in every real frame', () => {
    let blocks = 0
    for (const { name, bytes } of allRealFrames()) {
      const car = decodeFrame(bytes).body.blocks
      if (!(car instanceof Uint8Array)) continue
      const reference = CarBufferReader.fromBytes(car)
      const ours = readCar(car, 'all')
      expect(ours.roots.map(String), name).toEqual(reference.getRoots().map(String))
      expect(ours.size, name).toBe(new Set(reference.blocks().map((b) => b.cid.toString())).size)
      for (const block of reference.blocks()) {
        expect(Buffer.from(ours.get(block.cid)!).equals(Buffer.from(block.bytes)), `${name} ${block.cid}`).toBe(true)
        blocks++
      }
    }
    expect(blocks).toBeGreaterThan(200)
  })

  it('reads CIDv0 blocks and looks them up by a v0 CID', async () => {
    const bytes = dagCbor.encode({ hello: 'v0' })
    const v0 = CID.createV0(await sha256.digest(bytes))
    const car = readCar(carOf([v0], [{ cid: v0, bytes }]), 'all')
    expect(car.get(v0)).toEqual(bytes)
    expect(car.get(CID.createV1(dagCbor.code, v0.multihash))).toBeUndefined() // another CID, even with the same hash
  })

  it('rejects malformed CARs with FRAME_BAD_CAR and the given fields', async () => {
    const block = await blockOf({ a: 1 })
    const good = carOf([block.cid], [block])
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['header length past the end', hex('20 a1')],
      ['header not CBOR', concat(hex('02'), hex('ff ff'))],
      ['header not a map', concat(hex('02'), hex('82 01'))],
      ['version 2', carHeader({ version: 2, roots: [block.cid] })],
      ['roots missing', carHeader({ version: 1 })],
      ['root not a CID', carHeader({ version: 1, roots: ['bafy'] })],
      ['truncated block', good.subarray(0, good.byteLength - 1)],
      ['overlong varint', concat(good, hex('ff ff ff ff ff ff ff ff ff'))],
      ['zero-length section', concat(good, hex('00'))],
      ['CID version 2', concat(good, hex('05 02 71 12 01 00'))],
      ['CID past its section', concat(good, hex('05 01 71 12 20 00'))],
    ]
    for (const [name, bytes] of cases) {
      const err = expectFrameError(() => readCar(bytes, 'all', { seq: 77 }), FrameErrorCode.BadCar)
      expect(err.seq, name).toBe(77)
    }
  })

  it("'records' verifies a block when it is read, 'all' up front, 'none' never; a mismatch names the CID", async () => {
    const block = await blockOf({ a: 1 })
    const car = carOf([block.cid], [{ cid: block.cid, bytes: dagCbor.encode({ a: 2 }) }])
    const verifying = readCar(car, 'records', { seq: 5 })
    const err = expectFrameError(() => verifying.get(block.cid), FrameErrorCode.BlockHashMismatch)
    expect(err.fields).toEqual({ seq: 5, cid: block.cid.toString() })
    const eager = expectFrameError(() => readCar(car, 'all', { seq: 6 }), FrameErrorCode.BlockHashMismatch)
    expect(eager.fields).toEqual({ seq: 6, cid: block.cid.toString() })
    expect(readCar(car, 'none').get(block.cid)).toEqual(dagCbor.encode({ a: 2 }))
  })
})

function carHeader(header: unknown): Uint8Array {
  const bytes = dagCbor.encode(header)
  return concat(Uint8Array.of(bytes.byteLength), bytes)
}

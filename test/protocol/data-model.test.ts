import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { bytesToBase64, cidToString, toJsonModel } from '../../protocol/data-model.js'
import { FrameDecodeError } from '../../protocol/errors.js'
import { type CommitEvent, decodeEvent } from '../../protocol/events.js'
import { REAL_DATA, blockOfBytes, commitFrame } from './helpers.js'

interface DataModelFixture {
  json: unknown
  cbor_base64: string
  cid: string
}

// Official atproto-interop-tests vectors: DAG-CBOR bytes, their CID, and the JSON data model form.
const fixtures = JSON.parse(readFileSync(join(REAL_DATA, 'interop', 'data-model-fixtures.json'), 'utf8')) as DataModelFixture[]

describe('toJsonModel against the interop data-model fixtures', () => {
  it('has fixtures to check', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(3)
  })

  for (const [index, fixture] of fixtures.entries()) {
    it(`fixture ${index}: CBOR decodes to the JSON form, and its CID matches`, async () => {
      const cbor = Buffer.from(fixture.cbor_base64, 'base64')
      expect(toJsonModel(dagCbor.decode(cbor))).toEqual(fixture.json)
      expect((await blockOfBytes(Uint8Array.from(cbor))).cid.toString()).toBe(fixture.cid)
    })

    it(`fixture ${index}: as a record in a commit frame, the op carries the JSON form and the fixture CID`, async () => {
      const record = dagCbor.decode(Buffer.from(fixture.cbor_base64, 'base64'))
      const event = decodeEvent(await commitFrame([{ action: 'create', path: 'com.example.record/self', record }])) as CommitEvent
      expect(event.ops[0]).toEqual({ action: 'create', path: 'com.example.record/self', cid: fixture.cid, record: fixture.json })
    })
  }
})

describe('bytesToBase64', () => {
  it('is standard base64 without padding, for every length modulo 3', () => {
    for (let length = 0; length <= 7; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => 0xf8 + i)
      const expected = Buffer.from(bytes).toString('base64').replace(/=+$/, '')
      expect(bytesToBase64(bytes)).toBe(expected)
      expect(bytesToBase64(bytes)).not.toContain('=')
    }
  })

  it('encodes only the view, not the whole underlying buffer', () => {
    const backing = Uint8Array.from([1, 2, 3, 4, 5, 6])
    expect(bytesToBase64(backing.subarray(2, 4))).toBe(Buffer.from([3, 4]).toString('base64').replace(/=+$/, ''))
  })
})

describe('toJsonModel edge cases', () => {
  it('rejects BigInt integers with FrameDecodeError carrying the given fields', () => {
    let caught: unknown
    try {
      toJsonModel({ a: [1, 2n ** 63n] }, { seq: 3 })
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(FrameDecodeError)
    expect((caught as FrameDecodeError).seq).toBe(3)
  })

  it('keeps floats, nulls, booleans and empty containers as they are', () => {
    expect(toJsonModel({ f: 1.5, n: null, b: false, a: [], o: {} })).toEqual({ f: 1.5, n: null, b: false, a: [], o: {} })
  })
})

describe('cidToString', () => {
  it('equals multiformats CID#toString for v0 and v1 CIDs of any codec, hash and digest length, in the scratch and past it (seeded)', () => {
    const digest = fc.record({ code: fc.constantFrom(0x12, 0x13, 0x1e, 0x00), bytes: fc.uint8Array({ minLength: 0, maxLength: 100 }) }) // past 75 bytes: the CID text's own buffer
    fc.assert(
      fc.property(fc.constantFrom(0x71, 0x55, 0x70, 0x0129), digest, (codec, { code, bytes }) => {
        const cid = CID.createV1(codec, createDigest(code, bytes))
        expect(cidToString(cid)).toBe(cid.toString())
      }),
      { seed: 0xc1d, numRuns: 500 },
    )
    const v0 = CID.parse('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n')
    expect(cidToString(v0)).toBe('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n')
  })
})

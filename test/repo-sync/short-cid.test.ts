import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { shortCidBytes, shortCidString } from '../../repo-sync/repo-state-codec.js'

const SEED = Number(process.env.FIREHOSE_TEST_SEED ?? 36)
const DAG_CBOR = 0x71

describe('short CIDs read and written without multiformats give exactly what multiformats gives (the stored state must decode to the same string)', () => {
  it(`10,000 seeded sha2-256 dag-cbor CIDs round trip (seed ${SEED})`, async () => {
    const random = new SeededRandom(SEED)
    for (let i = 0; i < 10_000; i++) {
      const cid = CID.createV1(DAG_CBOR, await sha256.digest(random.bytes(random.int(1, 64))))
      const text = cid.toString()
      expect(shortCidBytes(text), `seed ${SEED}, ${text}`).toEqual(cid.bytes)
      expect(shortCidString(cid.multihash.digest), `seed ${SEED}`).toBe(text)
    }
  })
})

describe('anything but a canonical short CID string is left to the general path (null)', () => {
  it.each([
    ['a raw-codec CID', 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'],
    ['a CIDv0', 'QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n'],
    ['upper case', 'BAFYREIEDAS25PGKO42C2X7QVQ5ITAONSXG4CVELS7ONUF2AK656I7BXWEY'],
    ['one character short', 'bafyreiedas25pgko42c2x7qvq5itaonsxg4cvels7onuf2ak656i7bxwe'],
    ['a character outside the alphabet', 'bafyreiedas25pgko42c2x7qvq5itaonsxg4cvels7onuf2ak656i7bxw1y'],
    ['non-zero padding bits', 'bafyreiedas25pgko42c2x7qvq5itaonsxg4cvels7onuf2ak656i7bxwez'],
  ])('%s', (_what, text) => {
    expect(shortCidBytes(text)).toBeNull()
  })
})

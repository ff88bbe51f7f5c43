import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { shardOfDid } from '../../protocol/shard.js'

/** FNV-1a 32-bit as its definition states it, in BigInt arithmetic: the reference the fast one must match. */
function fnv1aReference(text: string): bigint {
  let hash = 0x811c9dc5n
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= BigInt(byte)
    hash = (hash * 0x01000193n) % 2n ** 32n
  }
  return hash
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

function randomPlcDid(random: SeededRandom): string {
  return `did:plc:${Array.from({ length: 24 }, () => BASE32[random.int(0, 31)]).join('')}`
}

describe('shardOfDid: which shard stream a repo goes to', () => {
  const seed = SeededRandom.freshSeed()

  it('is FNV-1a 32 of the DID bytes modulo the shard count (matches a BigInt reference on seeded DIDs)', () => {
    const random = new SeededRandom(seed)
    for (let i = 0; i < 2000; i++) {
      const did = random.bool(0.8) ? randomPlcDid(random) : `did:web:host-${random.int(0, 1e6)}.example.com`
      const shards = random.int(2, 256)
      expect(shardOfDid(did, shards), `seed ${seed}: ${did} / ${shards}`).toBe(Number(fnv1aReference(did) % BigInt(shards)))
    }
  })

  it('sends everything to shard 0 with one shard, and DID-less events (#info) to shard 0', () => {
    expect(shardOfDid('did:plc:abc', 1)).toBe(0)
    expect(shardOfDid(null, 8)).toBe(0)
  })

  it('spreads DIDs evenly: each of 8 shards within 10% of its share over 40,000 seeded DIDs', () => {
    const random = new SeededRandom(seed)
    const counts = new Array<number>(8).fill(0)
    for (let i = 0; i < 40_000; i++) counts[shardOfDid(randomPlcDid(random), 8)]!++
    for (const count of counts) expect(Math.abs(count - 5000), `seed ${seed}: ${counts.join(', ')}`).toBeLessThan(500)
  })
})

import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { BlockStore } from '../../repo-sync/block-store.js'
import { DigestIndex } from '../../repo-sync/digest-index.js'

const spillDir = mkdtempSync(join(tmpdir(), 'block-store-test-'))
afterAll(() => rmSync(spillDir, { recursive: true, force: true }))

/** A made-up atproto CID whose digest starts with n: what matters to the store is that it names the block. */
const cidOf = (n: number): Uint8Array => Uint8Array.from([1, 0x71, 0x12, 0x20, n >> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, ...new Array<number>(28).fill(7)])

describe('BlockStore keeps memoryBytes of blocks in memory and spills the rest, and gives every block back unchanged (its bound is the fetch memory bound)', () => {
  it('blocks of every size (tiny, over a slab, over a write batch), read back from memory, a pending batch and the file', async () => {
    const seed = SeededRandom.freshSeed()
    const random = new SeededRandom(seed)
    const store = new BlockStore({ memoryBytes: 1024 * 1024, spillDir })
    const sizes = [1, 300, 700_000, 1_500_000, ...Array.from({ length: 2000 }, () => random.int(50, 3000)), 2_000_000, 10]
    const blocks = sizes.map((size) => random.bytes(size))
    for (const [i, data] of blocks.entries()) await store.put(cidOf(i), data)
    await store.put(cidOf(0), Uint8Array.from([9, 9])) // a CID seen again: the first copy stays
    expect(store.size).toBe(blocks.length)
    expect(store.memoryBytes).toBeLessThanOrEqual(1024 * 1024)
    expect(store.memoryBytes + store.spilledBytes).toBe(sizes.reduce((n, size) => n + size, 0))
    // Backwards: the last blocks are still in the unwritten batch when first asked for.
    for (let i = blocks.length - 1; i >= 0; i--) expect(Buffer.from((await store.get(cidOf(i)))!).equals(Buffer.from(blocks[i]!)), `block ${i}, seed ${seed}`).toBe(true)
    expect(await store.get(cidOf(blocks.length))).toBeUndefined()
    expect(readdirSync(spillDir)).toEqual([]) // the spill file was unlinked as soon as it was open
    await store.close()
    await store.close()
    expect(store.size).toBe(0)
  })

  it('with no memory budget every block goes to the file', async () => {
    const store = new BlockStore({ memoryBytes: 0, spillDir })
    await store.put(cidOf(1), Uint8Array.from([1, 2, 3]))
    expect({ memory: store.memoryBytes, spilled: store.spilledBytes }).toEqual({ memory: 0, spilled: 3 })
    expect(await store.get(cidOf(1))).toEqual(Uint8Array.from([1, 2, 3]))
    await store.close()
  })
})

describe("DigestIndex finds every digest it was given, across its growth, and nothing else (the store's index: 32-64 bytes a block)", () => {
  it('100,000 random digests, a duplicate refused, absent ones undefined, cleared', () => {
    const seed = SeededRandom.freshSeed()
    const random = new SeededRandom(seed)
    const index = new DigestIndex()
    const digests = Array.from({ length: 100_000 }, () => random.bytes(32))
    expect(digests.filter((digest, i) => !index.add(digest, 0, i + 1))).toEqual([])
    expect(index.add(digests[5]!, 0, 999)).toBe(false)
    expect(index.size).toBe(100_000)
    expect(
      digests.flatMap((digest, i) => (index.get(digest) === i + 1 ? [] : [i])),
      `seed ${seed}`,
    ).toEqual([])
    const absent = Uint8Array.from(digests[0]!)
    absent[15]! ^= 1 // differs within the 128 bits compared
    expect(index.get(absent)).toBeUndefined()
    const inCid = Uint8Array.from([1, 0x71, 0x12, 0x20, ...digests[7]!])
    expect(index.get(inCid, 4)).toBe(8)
    expect(() => index.add(random.bytes(32), 0, 0)).toThrow(RangeError)
    index.clear()
    expect([index.size, index.get(digests[1]!)]).toEqual([0, undefined])
  })
})

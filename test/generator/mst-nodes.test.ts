import { DataDiff, MST, MemoryBlockstore, cidForRecord } from '@atproto/repo'
import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { buildTree, coveringProofNodes, takeNewNodes } from '../../generator/mst-nodes.js'
import { tidFromTime } from '../../generator/tid.js'

const SEED = 4242

async function cidsOf(nodes: Iterable<MST>): Promise<string[]> {
  const out: string[] = []
  for (const node of nodes) out.push((await node.getPointer()).toString())
  return out.sort()
}

/** Our synchronous walks must pick exactly the nodes @atproto/repo's own (async) walks pick. */
describe('in-memory MST walks match @atproto/repo', () => {
  it('covering proofs and new-node sets equal getCoveringProof and DataDiff', async () => {
    const random = new SeededRandom(SEED)
    const cid = await cidForRecord({ $type: 'app.bsky.feed.like', createdAt: '2025-01-01T00:00:00.000Z' })
    const collections = ['app.bsky.feed.like', 'app.bsky.feed.post', 'app.bsky.graph.follow']
    const keys: string[] = []
    const key = (): string => `${random.pick(collections)}/${tidFromTime(1.7e15 + random.int(0, 1e12), random.int(0, 1023))}`
    let tree = await MST.create(new MemoryBlockstore())
    for (let i = 0; i < 300; i++) {
      const k = key()
      if (keys.includes(k)) continue
      keys.push(k)
      tree = await tree.add(k, cid)
    }
    await tree.getPointer()
    takeNewNodes(tree, null, [])

    for (let step = 0; step < 60; step++) {
      const before = tree
      const present = random.bool(0.5) && keys.length > 0
      const k = present ? keys.splice(random.int(0, keys.length - 1), 1)[0]! : key()
      tree = present ? await tree.delete(k) : await tree.add(k, cid)
      if (!present) keys.push(k)
      await tree.getPointer()

      const ours = new Set<MST>()
      coveringProofNodes(tree, k, ours)
      const theirs = (await tree.getCoveringProof(k)).cids().map(String).sort()
      expect(await cidsOf(ours), `seed ${SEED} step ${step} key ${k}`).toEqual(theirs)

      const diff = await DataDiff.of(tree, before)
      const fresh = await cidsOf(takeNewNodes(tree, before, [k]))
      expect(fresh, `seed ${SEED} step ${step}`).toEqual(diff.newMstBlocks.cids().map(String).sort())
    }
  })

  it('buildTree makes the tree repeated MST.add makes, and it edits the same way', async () => {
    const random = new SeededRandom(SEED + 1)
    const cid = await cidForRecord({ $type: 'app.bsky.graph.follow', subject: 'did:plc:x', createdAt: '2025-01-01T00:00:00.000Z' })
    for (const size of [0, 1, 2, 7, 50, 400]) {
      const keys = new Set<string>()
      while (keys.size < size) keys.add(`app.bsky.graph.follow/${tidFromTime(1.7e15 + random.int(0, 1e12), random.int(0, 1023))}`)
      let added = await MST.create(new MemoryBlockstore())
      for (const key of keys) added = await added.add(key, cid)
      let built = await buildTree(
        new MemoryBlockstore(),
        [...keys].map((key) => ({ key, value: cid })),
      )
      expect((await built.getPointer()).toString(), `seed ${SEED + 1} size ${size}`).toBe((await added.getPointer()).toString())
      const extra = `app.bsky.graph.follow/${tidFromTime(1.8e15, 1)}`
      added = await added.add(extra, cid)
      built = await built.add(extra, cid)
      expect((await built.getPointer()).toString(), `size ${size} after add`).toBe((await added.getPointer()).toString())
    }
  })
})

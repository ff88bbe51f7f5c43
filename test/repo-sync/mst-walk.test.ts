import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { RepoSyncError, RepoSyncErrorCode } from '../../repo-sync/errors.js'
import { layerOf, walkMst } from '../../repo-sync/mst-walk.js'

/** Blocks by CID, as the walk reads them from the store. */
class Blocks {
  private readonly blocks = new Map<string, Uint8Array>()

  add(value: unknown): CID {
    const bytes = dagCbor.encode(value)
    const cid = CID.createV1(0x71, Digest.create(0x12, createHash('sha256').update(bytes).digest()))
    this.blocks.set(cid.toString(), bytes)
    return cid
  }

  async get(cid: Uint8Array): Promise<Uint8Array | undefined> {
    return this.blocks.get(CID.decode(cid).toString())
  }
}

const enc = new TextEncoder()
const record = new Blocks().add({ $type: 'app.bsky.feed.like' })
/** Keys of the given layer, in order. */
function keysAt(layer: number, count: number): string[] {
  const keys: string[] = []
  for (let i = 0; keys.length < count; i++) {
    const key = `app.bsky.feed.like/3k${String(i).padStart(11, '2')}`
    if (layerOf(key) === layer) keys.push(key)
  }
  return keys
}
const entry = (key: string, p = 0, t: CID | null = null): unknown => ({ p, k: enc.encode(key.slice(p)), v: record, t })

async function walk(blocks: Blocks, root: CID, checkLayers = true): Promise<string[] | RepoSyncError> {
  const keys: string[] = []
  try {
    for await (const leaf of walkMst(blocks, root, { checkLayers })) keys.push(leaf.key)
    return keys
  } catch (err) {
    if (err instanceof RepoSyncError) return err
    throw err
  }
}

function mstError(outcome: string[] | RepoSyncError): string {
  expect(outcome).toBeInstanceOf(RepoSyncError)
  expect((outcome as RepoSyncError).code).toBe(RepoSyncErrorCode.Mst)
  return (outcome as RepoSyncError).message
}

describe('walkMst: keys in order from a well-formed tree, and a clear MST error for every malformed one (a PDS can send any node)', () => {
  const [a, b, c] = keysAt(0, 3) as [string, string, string]
  const [top] = keysAt(1, 1) as [string]

  it('walks a two-layer tree in key order, prefix compression undone', async () => {
    const blocks = new Blocks()
    const below = [a, b, c].filter((k) => k < top)
    const above = [a, b, c].filter((k) => k > top)
    const left = below.length > 0 ? blocks.add({ l: null, e: below.map((k, i) => entry(k, i === 0 ? 0 : 10)) }) : null
    const right = above.length > 0 ? blocks.add({ l: null, e: above.map((k, i) => entry(k, i === 0 ? 0 : 10)) }) : null
    const root = blocks.add({ l: left, e: [entry(top, 0, right)] })
    expect(await walk(blocks, root)).toEqual([...below, top, ...above])
  })

  it('keys out of order', async () => {
    const blocks = new Blocks()
    expect(mstError(await walk(blocks, blocks.add({ l: null, e: [entry(b), entry(a)] })))).toMatch(/out of order/)
  })

  it('a key at the wrong layer, seen only when layers are checked', async () => {
    const blocks = new Blocks()
    const sorted = [a, top].sort()
    const tree = blocks.add({ l: null, e: sorted.map((k) => entry(k)) })
    expect(mstError(await walk(blocks, tree))).toMatch(/belongs at layer/)
    expect(await walk(blocks, tree, false)).toEqual(sorted)
  })

  it('a subtree under a layer-0 node, an empty node inside the tree, a missing node', async () => {
    const blocks = new Blocks()
    const leaf = blocks.add({ l: null, e: [entry(a)] })
    expect(mstError(await walk(blocks, blocks.add({ l: leaf, e: [entry(b)] })))).toMatch(/layer 0 has subtrees/)
    const empty = blocks.add({ l: null, e: [] })
    expect(mstError(await walk(blocks, blocks.add({ l: empty, e: [entry(top)] })))).toMatch(/empty node inside/)
    expect(await walk(blocks, empty)).toEqual([])
    const absent = new Blocks().add({ l: null, e: [entry(c)] })
    expect(mstError(await walk(blocks, blocks.add({ l: absent, e: [entry(top)] })))).toMatch(/missing from the CAR/)
  })

  it('malformed nodes and keys: not a map, an entry without t, a compressed first entry, a prefix longer than the key before, a key that is not a repo path, not UTF-8', async () => {
    const blocks = new Blocks()
    const cases: [unknown, RegExp][] = [
      [['not', 'a', 'node'], /not an MST node/],
      [{ e: [entry(a)] }, /not an MST node/],
      [{ l: null, e: [{ p: 0, k: enc.encode(a), v: record }] }, /not an MST entry/],
      [{ l: null, e: [{ p: 0, k: a, v: record, t: null }] }, /not an MST entry/],
      [{ l: null, e: [entry(a, 3)] }, /first entry shares 3 bytes/],
      [{ l: null, e: [entry(a), { p: 99, k: enc.encode('x'), v: record, t: null }] }, /shares 99 bytes with a/],
      [{ l: null, e: [{ p: 0, k: enc.encode('no-slash-here'), v: record, t: null }] }, /not a repo path/],
      [{ l: null, e: [{ p: 0, k: enc.encode('app.bsky.feed.like/..'), v: record, t: null }] }, /not a repo path/],
      [{ l: null, e: [{ p: 0, k: Uint8Array.from([0x61, 0x2f, 0xff]), v: record, t: null }] }, /not UTF-8/],
    ]
    for (const [node, reason] of cases) expect(mstError(await walk(blocks, blocks.add(node))), String(reason)).toMatch(reason)
  })
})

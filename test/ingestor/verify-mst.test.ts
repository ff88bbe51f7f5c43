import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'
import { MST, MemoryBlockstore } from '@atproto/repo'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { beforeAll, describe, expect, it } from 'vitest'
import { verifyOps as peerVerifyOps } from '../../bench/mst-proof-atproto.js'
import { SeededRandom } from '../../common/random.js'
import { sizes } from '../../harness/scenarios/profile.js'
import { AccountRepo, type RecordWrite } from '../../generator/account-repo.js'
import { commitFrame } from '../../generator/frames.js'
import { buildTree } from '../../generator/mst-nodes.js'
import { tidFromTime } from '../../generator/tid.js'
import { VerifyError } from '../../ingestor/verify/errors.js'
import { decodeMstNode } from '../../ingestor/verify/mst-node.js'
import { mstNodeCid } from '../../ingestor/verify/mst-node-cid.js'
import { verifyOps } from '../../ingestor/verify/mst-proof.js'
import { readCommit, readSignedFrame, type SignedFrame, type SignedOp } from '../../ingestor/verify/signed-frame.js'
import { readCar } from '../../protocol/car.js'
import { CarBuilder } from '../../protocol/car-writer.js'
import type { SignedCommit } from '../../protocol/repo-commit.js'
import { layerOf } from '../../repo-sync/mst-walk.js'
import { realDataDir } from './helpers.js'
import { committedFramesAndDocs } from './verify-frames.js'

type Verify = (frame: SignedFrame, commit: SignedCommit) => Promise<void>
type Verdict = string | null

/** A verifier's answer: null (accepted) or the error code; anything but a VerifyError is a bug and fails the test. */
async function verdictOf(verify: Verify, frame: SignedFrame, commit: SignedCommit): Promise<Verdict> {
  try {
    await verify(frame, commit)
    return null
  } catch (err) {
    if (err instanceof VerifyError) return err.code
    throw err
  }
}

/** Both verifiers' answers, each on its own copy of the CAR (a CarBlocks remembers which blocks it has hashed). */
async function bothVerdicts(frame: SignedFrame, commit: SignedCommit, carBytes: Uint8Array): Promise<{ ours: Verdict; peer: Verdict }> {
  return {
    ours: await verdictOf(verifyOps, { ...frame, car: readCar(carBytes, 'records') }, commit),
    peer: await verdictOf(peerVerifyOps, { ...frame, car: readCar(carBytes, 'records') }, commit),
  }
}

/** The frame's CAR with `edit` applied to its blocks (return null to drop a block). */
function editCar(frame: SignedFrame, edit: (cid: Uint8Array, data: Uint8Array) => Uint8Array | null): Uint8Array {
  const car = new CarBuilder()
  for (const { cid, data } of frame.car.entries()) {
    const kept = edit(cid, data)
    if (kept !== null) car.add(CID.decode(cid), kept)
  }
  return car.encode(frame.car.roots[0]!)
}

const carBytesOf = (frame: SignedFrame): Uint8Array => editCar(frame, (_cid, data) => data)
const isMstNode = (data: Uint8Array): boolean => {
  const value = dagCbor.decode<Record<string, unknown>>(data)
  return typeof value === 'object' && value !== null && 'e' in value && 'l' in value
}
const sameCidBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))

/** What checkMutations saw: variants refused, and block variants the peer refused but ours did not need. */
interface MutationCount {
  refused: number
  blockVariants: number
  spared: number
}

/**
 * Every way a commit can lie that the MST half must catch, each checked against @atproto/repo's
 * verdict on the same input: an op dropped, an op's cid or prev changed, prevData changed (the
 * same verdict), and for each MST block of the CAR, the block left out or its bytes changed.
 * There ours never refuses what the peer accepts, and always refuses without the root's block;
 * but the peer also reads blocks a proof does not need (for the layer of a subtree without keys
 * it loads the subtrees below, where ours knows the layer from the parent), so ours may accept
 * where the peer refuses: `spared`. Accepting is then right: ours got the signed root and
 * prevData from the ops and hashed blocks alone.
 */
async function checkMutations(frame: SignedFrame, commit: SignedCommit, random: SeededRandom, label: string): Promise<MutationCount> {
  const carBytes = carBytesOf(frame)
  const ops = frame.ops!
  const otherCid = CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
  const variants: { name: string; frame: SignedFrame; car: Uint8Array; mustFail: boolean; block: boolean }[] = []
  const withOps = (name: string, changed: SignedOp[], mustFail: boolean): void => {
    variants.push({ name, frame: { ...frame, ops: changed }, car: carBytes, mustFail, block: false })
  }
  if (ops.length > 0) {
    const i = random.int(0, ops.length - 1)
    // Without prevData, only a dropped op's own proof is gone: nothing shows that it is missing.
    withOps(`op ${i} dropped`, ops.toSpliced(i, 1), frame.prevData !== null)
    const op = ops[i]!
    // A delete's cid is not looked at (the path must be absent whatever it says).
    withOps(`op ${i} with another cid`, ops.with(i, { ...op, cid: otherCid }), op.action !== 'delete')
    if (op.prev !== null) withOps(`op ${i} with another prev`, ops.with(i, { ...op, prev: otherCid }), frame.prevData !== null)
  }
  if (frame.prevData !== null) variants.push({ name: 'another prevData', frame: { ...frame, prevData: commit.data }, car: carBytes, mustFail: true, block: false })
  for (const { cid, data } of frame.car.entries()) {
    if (!isMstNode(data)) continue
    const name = CID.decode(cid).toString()
    const isRoot = sameCidBytes(cid, commit.data.bytes)
    variants.push({ name: `block ${name} left out`, frame, car: editCar(frame, (c, d) => (sameCidBytes(c, cid) ? null : d)), mustFail: isRoot, block: true })
    const changed = (c: Uint8Array, d: Uint8Array): Uint8Array => {
      if (!sameCidBytes(c, cid)) return d
      const copy = Uint8Array.from(d)
      copy[copy.length - 1]! ^= 1
      return copy
    }
    variants.push({ name: `block ${name} with other bytes`, frame, car: editCar(frame, changed), mustFail: isRoot, block: true })
  }
  const count: MutationCount = { refused: 0, blockVariants: 0, spared: 0 }
  for (const variant of variants) {
    const { ours, peer } = await bothVerdicts(variant.frame, commit, variant.car)
    const name = `${label}: ${variant.name}`
    if (variant.block && ours === null && peer !== null) count.spared++
    else expect({ ours, peer }, name).toEqual({ ours: peer, peer })
    if (variant.mustFail) expect(ours, name).toBe('VERIFY_BAD_PROOF')
    if (variant.block) count.blockVariants++
    if (ours !== null) count.refused++
  }
  return count
}

describe('MST node codec: decodes the nodes @atproto/repo writes and encodes them back to the same CID (the CIDs inversion computes must be the ones the PDS signed)', () => {
  it('every node of trees of 0 to 1,500 keys, keys at layers 0 to 4 and more', async () => {
    const random = new SeededRandom(7001)
    const value = CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
    const layers = new Set<number>()
    for (const size of [0, 1, 2, 10, 300, 1_500]) {
      const leaves = Array.from({ length: size }, (_, i) => ({ key: `${random.pick(['app.bsky.feed.like', 'app.bsky.graph.follow', 'a.b.c'])}/${tidFromTime(1.7e15 + random.int(0, 1e12), i % 1024)}`, value }))
      for (const { key } of leaves) layers.add(layerOf(key))
      const tree = await buildTree(new MemoryBlockstore(), leaves)
      const { blocks } = await tree.getUnstoredBlocks()
      for (const [cid, bytes] of blocks.entries().map((e) => [e.cid.bytes, e.bytes] as const)) {
        const node = decodeMstNode(bytes, cid, {})
        expect(sameCidBytes(mstNodeCid(node.keys, node.values, node.subtrees), cid), `seed 7001 size ${size}`).toBe(true)
      }
    }
    expect(Math.max(...layers)).toBeGreaterThanOrEqual(4)
  })

  it('refuses malformed nodes with VERIFY_BAD_PROOF: other fields, a prefix longer than the previous key, keys out of order or invalid, trailing bytes', async () => {
    const value = CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
    const node = (e: Record<string, unknown>[], extra: Record<string, unknown> = {}): Uint8Array => dagCbor.encode({ l: null, e, ...extra })
    const entry = (p: number, k: string): Record<string, unknown> => ({ p, k: new TextEncoder().encode(k), v: value, t: null })
    const good = node([entry(0, 'app.bsky.feed.like/3a'), entry(20, 'b')])
    const cid = value.bytes
    expect(decodeMstNode(good, cid, {}).keys).toEqual(['app.bsky.feed.like/3a', 'app.bsky.feed.like/3b'])
    const bad: [string, Uint8Array][] = [
      ['an extra field', node([entry(0, 'a/b')], { x: 1 })],
      ['an extra entry field', node([{ ...entry(0, 'a/b'), x: 1 }])],
      ['a prefix longer than the previous key', node([entry(0, 'a/b'), entry(5, 'c')])],
      ['a prefix on the first entry', node([entry(1, 'a/b')])],
      ['keys out of order', node([entry(0, 'a/c'), entry(2, 'b')])],
      ['a repeated key', node([entry(0, 'a/c'), entry(3, '')])],
      ['a key without a slash', node([entry(0, 'abc')])],
      ['a key with two slashes', node([entry(0, 'a/b/c')])],
      ['a key with a space', node([entry(0, 'a/b c')])],
      ['a key that is not ASCII', node([entry(0, 'a/\u00e9')])],
      ['v not a CID', node([{ ...entry(0, 'a/b'), v: 'x' }])],
      ['trailing bytes', Uint8Array.from([...good, 0])],
      ['truncated', good.subarray(0, good.length - 1)],
    ]
    for (const [name, bytes] of bad) {
      expect(() => decodeMstNode(bytes, cid, {}), name).toThrow(expect.objectContaining({ code: 'VERIFY_BAD_PROOF' }) as Error)
    }
  })
})

describe('seeded property: commits of generated repos (creates, updates, deletes, deep keys and keys above the root) verify as with @atproto/repo, and every mutation is refused as there', () => {
  const SEED = 2026
  let keypair: Secp256k1Keypair
  beforeAll(async () => {
    keypair = await Secp256k1Keypair.create()
  })

  // Small repos see the root move down (all its keys deleted) and the tree empty out; large ones have deep keys.
  // The ci profile (npm test) keeps every shape with fewer commits of the large repos (deep keys: 600 records have 4 layers).
  const full = sizes().profile === 'full'
  it.each([
    { sizes: [0, 1, 2, 3, 5], steps: 8, seed: SEED, lowers: true },
    { sizes: [20, 100], steps: 8, seed: SEED + 1, lowers: false },
    { sizes: full ? [600, 2_000] : [600], steps: full ? 5 : 3, seed: SEED + 2, lowers: false },
  ])('repos of $sizes records, $steps commits each: accepts every commit and refuses what @atproto/repo refuses (seed $seed)', async ({ sizes, steps, seed, lowers }) => {
    const random = new SeededRandom(seed)
    let commits = 0
    let refused = 0
    let blockVariants = 0
    let spared = 0
    // Commits whose new key sits above every key before (the root moves up), and those that delete every top-layer key (it moves down).
    let raised = 0
    let lowered = 0
    let timeUs = 1.7e15
    const path = (minLayer: number): string => {
      for (;;) {
        const key = `${random.pick(['app.bsky.feed.like', 'app.bsky.feed.post', 'app.bsky.graph.follow'])}/${tidFromTime((timeUs += random.int(1, 1e9)), random.int(0, 1023))}`
        if (layerOf(key) >= minLayer) return key
      }
    }
    const record = (): RecordWrite['record'] => ({
      $type: 'app.bsky.feed.like',
      subject: { uri: 'at://did:plc:x/app.bsky.feed.post/3l', cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
      createdAt: new Date(random.int(0, 2e12)).toISOString(),
    })
    const write = (action: RecordWrite['action'], key: string): RecordWrite => {
      const [collection, rkey] = key.split('/') as [string, string]
      return action === 'delete' ? { action, collection, rkey } : { action, collection, rkey, record: record() }
    }
    for (const size of sizes) {
      const keys = Array.from({ length: size }, () => path(0))
      const did = `did:plc:${'a'.repeat(20)}${String(size).padStart(4, 'a')}`
      const { repo } = await AccountRepo.create(
        did,
        keypair,
        keys.map((key) => write('create', key)),
        tidFromTime(timeUs, 0),
        false,
      )
      for (let step = 0; step < steps; step++) {
        const label = `seed ${seed} size ${size} step ${step}`
        const before = [...keys]
        const topBefore = Math.max(-1, ...before.map(layerOf))
        const writes: RecordWrite[] = []
        const touched = new Set<string>()
        for (let n = random.int(1, 6); n > 0; n--) {
          const action = keys.length === 0 ? 'create' : random.pick(['create', 'create', 'update', 'delete'] as const)
          // Keys above the usual layers move the root up on create and down on delete.
          const key = action === 'create' ? path(random.bool(0.3) ? random.int(1, topBefore + 1) : 0) : random.pick(keys)
          if (touched.has(key)) continue
          touched.add(key)
          writes.push(write(action, key))
          if (action === 'create') keys.push(key)
          if (action === 'delete') keys.splice(keys.indexOf(key), 1)
        }
        if (writes.some((w) => w.action === 'create' && layerOf(`${w.collection}/${w.rkey}`) > topBefore)) raised++
        if (Math.max(-1, ...keys.map(layerOf)) < topBefore) lowered++
        const rev = tidFromTime((timeUs += 1e6), 0)
        const result = await repo.commit(writes, rev)
        const frame = readSignedFrame(commitFrame({ seq: ++commits, timeUs }, did, result)) as SignedFrame
        const commit = readCommit(frame)
        expect(await bothVerdicts(frame, commit, carBytesOf(frame)), label).toEqual({ ours: null, peer: null })
        const count = await checkMutations(frame, commit, random, label)
        refused += count.refused
        blockVariants += count.blockVariants
        spared += count.spared
      }
    }
    expect(refused).toBeGreaterThan(commits * 3)
    // Sparing is the exception (none in small repos, about 1 in 75 block variants in large ones): ours does read and hash the blocks its proof rests on.
    expect(spared, `seed ${seed}: ${spared} of ${blockVariants}`).toBeLessThan(blockVariants / 20)
    expect({ raised: raised > 0, lowered: lowered > 0 || !lowers }, `seed ${seed}: raised ${raised}, lowered ${lowered}`).toEqual({ raised: true, lowered: true })
  })
})

describe('inversion through an empty tree: a commit that deletes the last record and creates one above its layer (the empty root has layer 0)', () => {
  it('verifies, as with @atproto/repo: the layer of the root is not carried over from the tree before', async () => {
    const keypair = await Secp256k1Keypair.create()
    const did = 'did:plc:emptyemptyemptyemptyemp'
    const key = (minLayer: number, maxLayer: number): string => {
      for (let i = 0; ; i++) {
        const path = `app.bsky.feed.like/${tidFromTime(1.7e15 + i * 1e6, 0)}`
        if (layerOf(path) >= minLayer && layerOf(path) <= maxLayer) return path
      }
    }
    const [low, high] = [key(0, 0), key(2, 3)]
    const record = { $type: 'app.bsky.feed.like', subject: { uri: 'at://did:plc:x/app.bsky.feed.post/3l', cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: '2025-01-01T00:00:00.000Z' }
    const { repo } = await AccountRepo.create(did, keypair, [{ action: 'create', collection: 'app.bsky.feed.like', rkey: low.split('/')[1]!, record }], tidFromTime(1.7e15, 1), false)
    const result = await repo.commit(
      [
        { action: 'delete', collection: 'app.bsky.feed.like', rkey: low.split('/')[1]! },
        { action: 'create', collection: 'app.bsky.feed.like', rkey: high.split('/')[1]!, record },
      ],
      tidFromTime(1.8e15, 1),
    )
    const frame = readSignedFrame(commitFrame({ seq: 1, timeUs: 1.8e15 }, did, result)) as SignedFrame
    const verdicts = await bothVerdicts(frame, readCommit(frame), carBytesOf(frame))
    expect(verdicts).toEqual({ ours: null, peer: null })
  })
})

describe('the interop commit-proof vectors (atproto-interop-tests firehose/commit-proof-fixtures.json): the proof blocks they list prove and invert each change', () => {
  const file = join(realDataDir, 'interop', 'commit-proof-fixtures.json')
  it.skipIf(!existsSync(file))('each vector: ops proven on the after tree with blocksInProof alone, inverted to rootBeforeCommit; each block left out refused as @atproto/repo refuses it', async () => {
    interface Vector {
      comment: string
      leafValue: string
      keys: string[]
      adds: string[]
      dels: string[]
      rootBeforeCommit: string
      rootAfterCommit: string
      blocksInProof: string[]
    }
    const vectors = JSON.parse(readFileSync(file, 'utf8')) as Vector[]
    expect(vectors.length).toBeGreaterThan(0)
    for (const vector of vectors) {
      const leaf = CID.parse(vector.leafValue)
      let tree = await MST.create(new MemoryBlockstore())
      for (const key of vector.keys) tree = await tree.add(key, leaf)
      expect((await tree.getPointer()).toString(), vector.comment).toBe(vector.rootBeforeCommit)
      for (const key of vector.adds) tree = await tree.add(key, leaf)
      for (const key of vector.dels) tree = await tree.delete(key)
      const after = await tree.getPointer()
      expect(after.toString(), vector.comment).toBe(vector.rootAfterCommit)
      const { blocks } = await tree.getUnstoredBlocks()
      const proofCar = (leftOut: string | null): Uint8Array => {
        const car = new CarBuilder()
        for (const cid of vector.blocksInProof) if (cid !== leftOut) car.add(CID.parse(cid), blocks.get(CID.parse(cid))!)
        return car.encode(after)
      }
      const ops: SignedOp[] = [...vector.adds.map((path) => ({ action: 'create', path, cid: leaf, prev: null })), ...vector.dels.map((path) => ({ action: 'delete', path, cid: null, prev: leaf }))]
      const car = proofCar(null)
      const frame: SignedFrame = { t: '#commit', seq: 1, did: 'did:plc:interop', rev: '3l', commit: null, car: readCar(car, 'records'), ops, prevData: CID.parse(vector.rootBeforeCommit), tooBig: false }
      const commit = { data: after } as unknown as SignedCommit
      expect(await bothVerdicts(frame, commit, car), vector.comment).toEqual({ ours: null, peer: null })
      for (const cid of vector.blocksInProof) {
        const { ours, peer } = await bothVerdicts(frame, commit, proofCar(cid))
        expect(ours, `${vector.comment}: ${cid} left out`).toBe(peer)
      }
    }
  })
})

describe('real frames: every #commit of the committed fixture verifies, and its mutations are refused as @atproto/repo refuses them', () => {
  it('the committed fixture (really signed sync-1.1 commits with covering proofs)', async () => {
    const { frames } = await committedFramesAndDocs()
    const random = new SeededRandom(99)
    let commits = 0
    for (const bytes of frames) {
      const frame = readSignedFrame(bytes)
      if (frame === null || frame.t !== '#commit') continue
      const commit = readCommit(frame)
      await verifyOps(frame, commit)
      commits++
      // The mutations (and @atproto/repo, ~1 ms a check) on one commit in 30: the property test covers the rest.
      if (commits % 30 === 0) await checkMutations(frame, commit, random, `fixture seq ${frame.seq}`)
    }
    expect(commits).toBe(1_449)
  })

  const scenarios = join(realDataDir, 'indigo-relay-scenarios')
  const prod = join(realDataDir, 'indigo-prod-commits', 'frames')
  it.skipIf(!existsSync(scenarios) || !existsSync(prod))('the indigo relay scenarios and production commits: the same verdict as @atproto/repo on every #commit', async () => {
    const files = [
      ...readdirSync(scenarios, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .flatMap((dir) => readdirSync(join(scenarios, dir.name, 'frames')).map((name) => join(scenarios, dir.name, 'frames', name))),
      ...readdirSync(prod).map((name) => join(prod, name)),
    ]
    let checked = 0
    for (const file of files) {
      const frame = readSignedFrame(readFileSync(file))
      if (frame === null || frame.t !== '#commit') continue
      let commit: SignedCommit
      try {
        commit = readCommit(frame)
      } catch {
        continue // a scenario's deliberately broken commit block: not the MST's business
      }
      const { ours, peer } = await bothVerdicts(frame, commit, carBytesOf(frame))
      expect(ours, file).toBe(peer)
      checked++
    }
    expect(checked).toBeGreaterThan(10)
  })
})

import * as nodeCrypto from 'node:crypto'
import { CID } from 'multiformats/cid'
import { cidToString } from '../protocol/data-model.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { decodeCbor } from '../protocol/frame.js'
import { RepoSyncError, RepoSyncErrorCode } from './errors.js'

/** Where the walk reads blocks (the BlockStore of the fetched CAR). */
export interface BlockSource {
  get(cid: Uint8Array): Promise<Uint8Array | undefined>
}

/** A key of the tree (`collection/rkey`) and the CID of its record. */
export interface MstLeaf {
  key: string
  cid: CID
}

export interface WalkOptions {
  /** Check that every key sits at the layer its hash gives (the canonical tree); the first pass does, the second need not. */
  checkLayers: boolean
  /** Called for each node read (counts). */
  onNode?: () => void
}

/** A node as the repository spec lays it out: `l` the left subtree, `e` the entries. */
interface MstNode {
  l: CID | null
  e: { p: number; k: Uint8Array; v: CID; t: CID | null }[]
}

/** A repo path: an NSID, a slash, a record key (repository spec: key syntax). */
const REPO_PATH = /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._:~-]{1,512}$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Walks the MST under `root` in key order (left subtree, then each entry and its right
 * subtree), yielding every leaf. Checks on the way (RepoSyncError MST): every node is in the
 * source and decodes as a node, keys are valid repo paths, strictly increasing across the whole
 * walk (so no subtree is visited twice), the first entry of a node is not prefix-compressed,
 * and (checkLayers) every key of a node sits at one layer, the node's children one layer below
 * (keys at layer 0 have no children), as the repository spec builds the tree. Nested as deep as
 * the tree, which the layer check bounds by the hash (at most 128 layers).
 */
export async function* walkMst(source: BlockSource, root: CID, options: WalkOptions): AsyncGenerator<MstLeaf> {
  const state = { lastKey: '' }
  yield* walkNode(source, root, null, true, state, options)
}

async function* walkNode(source: BlockSource, cid: CID, layer: number | null, isRoot: boolean, state: { lastKey: string }, options: WalkOptions): AsyncGenerator<MstLeaf> {
  const node = await readNode(source, cid)
  options.onNode?.()
  const keys: string[] = []
  let previous = ''
  for (const [i, entry] of node.e.entries()) {
    if (i === 0 && entry.p !== 0) throw mstError(cid, `its first entry shares ${entry.p} bytes with no previous key`)
    if (entry.p > previous.length) throw mstError(cid, `entry ${i} shares ${entry.p} bytes with a ${previous.length}-byte key`)
    let suffix: string
    try {
      suffix = utf8.decode(entry.k)
    } catch {
      throw mstError(cid, `entry ${i} key is not UTF-8`)
    }
    const key = previous.slice(0, entry.p) + suffix
    if (!REPO_PATH.test(key) || key.endsWith('/.') || key.endsWith('/..')) throw mstError(cid, `key ${JSON.stringify(key.slice(0, 600))} is not a repo path (collection/rkey)`)
    if (options.checkLayers) {
      const keyLayer = layerOf(key)
      if (layer === null) layer = keyLayer
      else if (keyLayer !== layer) throw mstError(cid, `key ${key} belongs at layer ${keyLayer}, the node is at layer ${layer}`)
    }
    keys.push(key)
    previous = key
  }
  const hasChildren = node.l !== null || node.e.some((entry) => entry.t !== null)
  if (layer === 0 && hasChildren) throw mstError(cid, 'a node at layer 0 has subtrees')
  // Only an empty repo's root has no entries and no subtree.
  if (node.e.length === 0 && node.l === null && !isRoot) throw mstError(cid, 'an empty node inside the tree')
  const childLayer = layer === null ? null : layer - 1
  if (node.l !== null) yield* walkNode(source, node.l, childLayer, false, state, options)
  for (const [i, entry] of node.e.entries()) {
    const key = keys[i]!
    if (key <= state.lastKey) throw mstError(cid, `key ${key} comes after ${state.lastKey}: the keys are out of order`)
    state.lastKey = key
    yield { key, cid: entry.v }
    if (entry.t !== null) yield* walkNode(source, entry.t, childLayer, false, state, options)
  }
}

async function readNode(source: BlockSource, cid: CID): Promise<MstNode> {
  const bytes = await source.get(cid.bytes)
  if (bytes === undefined) throw mstError(cid, 'it is missing from the CAR')
  let value: unknown
  try {
    value = decodeCbor(bytes, 'MST node')
  } catch (err) {
    if (isFrameDecodeError(err)) throw mstError(cid, `it is not DAG-CBOR: ${err.message}`, err)
    throw err
  }
  const node = value as { l?: unknown; e?: unknown } | null
  if (typeof node !== 'object' || node === null || Array.isArray(node) || !Array.isArray(node.e) || (node.l !== null && CID.asCID(node.l) === null)) {
    throw mstError(cid, 'it is not an MST node ({l, e})')
  }
  for (const [i, entry] of (node.e as unknown[]).entries()) {
    const { p, k, v, t } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>
    if (!Number.isSafeInteger(p) || (p as number) < 0 || !(k instanceof Uint8Array) || CID.asCID(v) === null || (t !== null && CID.asCID(t) === null)) {
      throw mstError(cid, `entry ${i} is not an MST entry ({p, k, v, t})`)
    }
  }
  return node as MstNode
}

/** The key's layer: leading zero bits of its SHA-256, counted in pairs (fanout 4, repository spec). */
export function layerOf(key: string): number {
  const hash = nodeCrypto.hash('sha256', key, 'buffer') as Buffer
  let layer = 0
  for (const byte of hash) {
    if (byte === 0) {
      layer += 4
      continue
    }
    if (byte < 4) layer += 3
    else if (byte < 16) layer += 2
    else if (byte < 64) layer += 1
    break
  }
  return layer
}

function mstError(cid: CID, reason: string, cause?: unknown): RepoSyncError {
  const name = cidToString(cid)
  return new RepoSyncError(RepoSyncErrorCode.Mst, `MST node ${name}: ${reason}`, { cid: name }, cause === undefined ? undefined : { cause })
}

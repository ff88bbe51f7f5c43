import { CID } from 'multiformats/cid'
import { readCar } from '../protocol/car.js'
import { decodeCbor, isPlainMap } from '../protocol/frame.js'
import { ReplayError, ReplayErrorCode } from './errors.js'

/** What an export reads of a repo: its head commit and the CARs that together hold its blocks, oldest first. */
export interface RepoSource {
  did: string
  /** The head commit CID's bytes. */
  head: { cid: Uint8Array }
  cars: readonly Uint8Array[]
}

/** One block of an exported repo; `key` is the record's `collection/rkey` for records. */
export interface RepoBlock {
  cid: CID
  bytes: Uint8Array
  kind: 'commit' | 'node' | 'record'
  key?: string
}

/** MST nodes nest one level per ~4 bits of key hash: real trees are under 10 deep. */
const MAX_TREE_DEPTH = 128
const textDecoder = new TextDecoder()

/**
 * The repo at its head as a PDS exports it (com.atproto.sync.getRepo): the commit block, then
 * each MST node followed by its subtrees and records in key order. Later CARs win (a CID's bytes
 * never differ anyway). A block missing from every CAR, or one that is not what the tree says,
 * throws REPLAY_REPO_UNEXPORTABLE naming it.
 */
export function exportRepo(repo: RepoSource): RepoBlock[] {
  const store = new Map<string, Uint8Array>()
  for (const car of repo.cars) for (const { cid, data } of readCar(car, 'none').entries()) store.set(keyOf(cid), data)
  const out: RepoBlock[] = []
  const fail = (message: string): ReplayError => new ReplayError(ReplayErrorCode.RepoUnexportable, `${repo.did}: ${message}`, { did: repo.did })
  const block = (cid: CID, what: string): Uint8Array => {
    const bytes = store.get(keyOf(cid.bytes))
    if (bytes === undefined) throw fail(`${what} ${cid.toString()} is in no frame published for this repo (the fixture does not hold the repo from its creation)`)
    return bytes
  }

  const commitCid = CID.decode(repo.head.cid)
  const commitBytes = block(commitCid, 'commit')
  out.push({ cid: commitCid, bytes: commitBytes, kind: 'commit' })
  const commit = decodeCbor(commitBytes, 'commit')
  const data = isPlainMap(commit) ? CID.asCID(commit.data) : null
  if (data === null) throw fail(`commit ${commitCid.toString()} has no data CID`)

  const walk = (nodeCid: CID, depth: number): void => {
    if (depth > MAX_TREE_DEPTH) throw fail(`MST deeper than ${MAX_TREE_DEPTH} levels at ${nodeCid.toString()}`)
    const bytes = block(nodeCid, 'MST node')
    out.push({ cid: nodeCid, bytes, kind: 'node' })
    const node = decodeCbor(bytes, 'MST node')
    if (!isPlainMap(node) || !Array.isArray(node.e)) throw fail(`block ${nodeCid.toString()} is not an MST node`)
    const left = CID.asCID(node.l)
    if (left !== null) walk(left, depth + 1)
    let key = new Uint8Array(0)
    for (const entry of node.e) {
      const { p, k, v, t }: Record<string, unknown> = isPlainMap(entry) ? entry : {}
      const value = CID.asCID(v)
      if (typeof p !== 'number' || !(k instanceof Uint8Array) || value === null || p > key.length) throw fail(`MST node ${nodeCid.toString()} has a malformed entry`)
      const next = new Uint8Array(p + k.length)
      next.set(key.subarray(0, p))
      next.set(k, p)
      key = next
      const path = textDecoder.decode(key)
      out.push({ cid: value, bytes: block(value, `record ${path}`), kind: 'record', key: path })
      const right = CID.asCID(t)
      if (right !== null) walk(right, depth + 1)
    }
  }
  walk(data, 0)
  return out
}

/** Block store key: the CID's bytes as a latin1 string (no base32 encoding per block). */
function keyOf(cid: Uint8Array): string {
  return Buffer.from(cid.buffer, cid.byteOffset, cid.byteLength).toString('latin1')
}

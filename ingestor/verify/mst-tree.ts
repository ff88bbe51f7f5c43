import { layerOf } from '../../repo-sync/mst-walk.js'
import { isFrameDecodeError } from '../../protocol/errors.js'
import { VerifyError, VerifyErrorCode } from './errors.js'
import { cidText, decodeMstNode, isValidMstKey } from './mst-node.js'
import { mstNodeCid } from './mst-node-cid.js'

/**
 * The bytes of the block with this CID (hashed against it), or undefined when it is absent.
 * May throw FrameDecodeError (a block that does not hash to its CID).
 */
export type BlockSource = (cid: Uint8Array) => Uint8Array | undefined

/**
 * A node of the partial tree: read from its block when first needed (`keys` null until then),
 * edited in place, its CID dropped (null) when an edit changes it and computed again on demand.
 */
class TreeNode {
  keys: string[] | null = null
  values: Uint8Array[] = []
  subtrees: (TreeNode | null)[] = []

  constructor(public cid: Uint8Array | null) {}

  static fresh(keys: string[], values: Uint8Array[], subtrees: (TreeNode | null)[]): TreeNode {
    const node = new TreeNode(null)
    node.keys = keys
    node.values = values
    node.subtrees = subtrees
    return node
  }
}

/** Index of the first key >= `key` (keys.length if none): the key itself or the subtree it would sit in. */
function lowerBound(keys: readonly string[], key: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (keys[middle]! < key) low = middle + 1
    else high = middle
  }
  return low
}

/**
 * An MST of which only the blocks a proof carries are known (the CAR of a #commit): lookups and
 * the edits that invert a commit (add, update, delete), synchronously and on CID bytes, giving
 * the root CID the edited tree has. The algorithms are @atproto/repo's (src/mst/mst.ts), on
 * mutable nodes: the tree lives for one commit. Every block read goes through `blocks` (which
 * hashes it); one that is needed and absent fails the proof. Errors: VerifyError BadProof.
 *
 * Layers: the root's is its first key's (leading zero bits of the key's SHA-256, in pairs), each
 * child one below its parent. A node below layer 0 cannot be in a well-formed tree; refusing it
 * also bounds the recursion to 128 levels, whatever the blocks say.
 */
export class PartialMst {
  private root: TreeNode
  private rootLayer: number | null = null

  constructor(
    private readonly blocks: BlockSource,
    root: Uint8Array,
    private readonly fields: Record<string, unknown>,
  ) {
    this.root = new TreeNode(root)
  }

  /** The record CID at `key`, or null when the tree has none there. */
  get(key: string): Uint8Array | null {
    for (let node: TreeNode | null = this.root; node !== null;) {
      const keys = this.load(node)
      const i = lowerBound(keys, key)
      if (keys[i] === key) return node.values[i]!
      node = node.subtrees[i]!
    }
    return null
  }

  /** Adds `key`; it must not be in the tree. */
  add(key: string, value: Uint8Array): void {
    if (!isValidMstKey(key)) throw this.fail(`${JSON.stringify(key)} is not a valid MST key`)
    const keyLayer = layerOf(key)
    const layer = this.layerOfRoot()
    if (keyLayer <= layer) {
      this.insert(this.root, layer, key, keyLayer, value)
      return
    }
    // The key goes above the root: the old tree splits around it, each side raised to the layer below the key.
    let [left, right] = this.split(this.root, layer, key)
    for (let l = layer + 1; l < keyLayer; l++) {
      if (left !== null) left = TreeNode.fresh([], [], [left])
      if (right !== null) right = TreeNode.fresh([], [], [right])
    }
    this.root = TreeNode.fresh([key], [value], [left, right])
    this.rootLayer = keyLayer
  }

  /** Sets the value of `key`; it must be in the tree. */
  update(key: string, value: Uint8Array): void {
    if (!isValidMstKey(key)) throw this.fail(`${JSON.stringify(key)} is not a valid MST key`)
    const path: TreeNode[] = []
    for (let node: TreeNode | null = this.root; node !== null;) {
      const keys = this.load(node)
      path.push(node)
      const i = lowerBound(keys, key)
      if (keys[i] === key) {
        node.values[i] = value
        for (const changed of path) changed.cid = null
        return
      }
      node = node.subtrees[i]!
    }
    throw this.fail(`no record at ${key} to update`)
  }

  /** Removes `key`; it must be in the tree. */
  delete(key: string): void {
    let layer = this.layerOfRoot()
    this.remove(this.root, layer, key)
    // As @atproto/repo trimTop: a root left with a subtree and no keys gives way to the subtree.
    // A subtree missing from the CAR is taken by its CID alone, as there.
    let root = this.root
    while (root.keys!.length === 0 && root.subtrees[0] !== null) {
      root = root.subtrees[0]!
      layer--
      if (!this.tryLoad(root)) break
    }
    this.root = root
    this.rootLayer = root.keys !== null && root.keys.length === 0 && root.subtrees[0] === null ? 0 : layer
  }

  /** The root CID of the tree as edited. */
  rootCid(): Uint8Array {
    return this.cidOf(this.root)
  }

  private cidOf(node: TreeNode): Uint8Array {
    if (node.cid !== null) return node.cid
    node.cid = mstNodeCid(
      node.keys!,
      node.values,
      node.subtrees.map((subtree) => (subtree === null ? null : this.cidOf(subtree))),
    )
    return node.cid
  }

  /** Adds `key` (at `keyLayer` <= `layer`) under `node`, at `layer`. */
  private insert(node: TreeNode, layer: number, key: string, keyLayer: number, value: Uint8Array): void {
    const keys = this.load(node)
    const i = lowerBound(keys, key)
    node.cid = null
    if (keyLayer < layer) {
      let below = node.subtrees[i]!
      if (below === null) {
        below = TreeNode.fresh([], [], [null])
        node.subtrees[i] = below
      }
      this.insert(below, layer - 1, key, keyLayer, value)
      return
    }
    if (keys[i] === key) throw this.fail(`a record is already at ${key}: cannot add it back`)
    const subtree = node.subtrees[i]!
    const [left, right] = subtree === null ? [null, null] : this.split(subtree, layer - 1, key)
    keys.splice(i, 0, key)
    node.values.splice(i, 0, value)
    node.subtrees.splice(i, 1, left, right)
  }

  /** The keys of `node` (at `layer`) below `key` and those above it, as two trees (null when empty). */
  private split(node: TreeNode, layer: number, key: string): [TreeNode | null, TreeNode | null] {
    if (layer < 0) throw this.fail('a node sits below layer 0')
    const keys = this.load(node)
    const i = lowerBound(keys, key)
    const subtree = node.subtrees[i]!
    const [innerLeft, innerRight] = subtree === null ? [null, null] : this.split(subtree, layer - 1, key)
    const left = TreeNode.fresh(keys.slice(0, i), node.values.slice(0, i), [...node.subtrees.slice(0, i), innerLeft])
    const right = TreeNode.fresh(keys.slice(i), node.values.slice(i), [innerRight, ...node.subtrees.slice(i + 1)])
    return [isEmpty(left) ? null : left, isEmpty(right) ? null : right]
  }

  /** Removes `key` from under `node` (at `layer`); the caller drops `node` if it is left empty. */
  private remove(node: TreeNode, layer: number, key: string): void {
    if (layer < 0) throw this.fail('a node sits below layer 0')
    const keys = this.load(node)
    const i = lowerBound(keys, key)
    node.cid = null
    if (keys[i] === key) {
      const merged = this.merge(node.subtrees[i]!, node.subtrees[i + 1]!, layer - 1)
      keys.splice(i, 1)
      node.values.splice(i, 1)
      node.subtrees.splice(i, 2, merged)
      return
    }
    const subtree = node.subtrees[i]!
    if (subtree === null) throw this.fail(`no record at ${key} to delete`)
    this.remove(subtree, layer - 1, key)
    if (isEmpty(subtree)) node.subtrees[i] = null
  }

  /** One tree of the keys of `left` then those of `right` (all greater), both at `layer`. */
  private merge(left: TreeNode | null, right: TreeNode | null, layer: number): TreeNode | null {
    if (left === null) return right
    if (right === null) return left
    if (layer < 0) throw this.fail('a node sits below layer 0')
    const leftKeys = this.load(left)
    const rightKeys = this.load(right)
    const boundary = this.merge(left.subtrees[leftKeys.length]!, right.subtrees[0]!, layer - 1)
    return TreeNode.fresh([...leftKeys, ...rightKeys], [...left.values, ...right.values], [...left.subtrees.slice(0, -1), boundary, ...right.subtrees.slice(1)])
  }

  /** The root's layer: its first key's, or one above its subtree's when it has no keys; 0 for the empty tree. */
  private layerOfRoot(): number {
    if (this.rootLayer !== null) return this.rootLayer
    let depth = 0
    let node = this.root
    for (;;) {
      const keys = this.load(node)
      if (keys.length > 0) {
        this.rootLayer = layerOf(keys[0]!) + depth
        return this.rootLayer
      }
      const below = node.subtrees[0]!
      if (below === null) {
        this.rootLayer = depth
        return depth
      }
      // A key has at most 128 layers (SHA-256 has 256 bits): no well-formed tree is deeper.
      if (++depth > 128) throw this.fail('a chain of nodes without keys deeper than any tree')
      node = below
    }
  }

  /** The node's keys, its block read and decoded first if needed. */
  private load(node: TreeNode): string[] {
    if (node.keys !== null) return node.keys
    const cid = node.cid!
    const bytes = this.read(cid)
    if (bytes === undefined) throw this.fail(`MST node ${cidText(cid)} is missing from the CAR`)
    return setFrom(node, decodeMstNode(bytes, cid, this.fields))
  }

  /** Like load, but false when the block is absent. */
  private tryLoad(node: TreeNode): boolean {
    if (node.keys !== null) return true
    const bytes = this.read(node.cid!)
    if (bytes === undefined) return false
    setFrom(node, decodeMstNode(bytes, node.cid!, this.fields))
    return true
  }

  private read(cid: Uint8Array): Uint8Array | undefined {
    try {
      return this.blocks(cid)
    } catch (err) {
      if (isFrameDecodeError(err)) throw this.fail(err.message)
      throw err
    }
  }

  private fail(reason: string): VerifyError {
    return new VerifyError(VerifyErrorCode.BadProof, `MST proof does not hold: ${reason}`, this.fields)
  }
}

function setFrom(node: TreeNode, data: { keys: string[]; values: Uint8Array[]; subtrees: (Uint8Array | null)[] }): string[] {
  node.keys = data.keys
  node.values = data.values
  node.subtrees = data.subtrees.map((cid) => (cid === null ? null : new TreeNode(cid)))
  return data.keys
}

function isEmpty(node: TreeNode): boolean {
  return node.keys!.length === 0 && node.subtrees[0] === null
}

import * as nodeCrypto from 'node:crypto'
import { ARRAY, BYTES, MAP, NULL, TAG_42, UINT } from './mst-node.js'

// The CID header of what we hash: CIDv1, dag-cbor, sha2-256, 32 bytes.
const NODE_CID_PREFIX = [0x01, 0x71, 0x12, 0x20] as const
const NODE_CID_LENGTH = 36
/**
 * Where nodes are encoded to be hashed: a typed array of more than 64 bytes costs V8 an
 * off-heap allocation (~1 us, more than hashing the node). Fixed size, a few times a typical
 * node (~300 bytes); a larger node is encoded in an array of its own, not kept.
 */
const ENCODE_SCRATCH = new Uint8Array(4096)

/**
 * The CID of the MST node with these keys, values and subtrees (MstNodeData, CIDs as bytes):
 * sha2-256 of its canonical DAG-CBOR encoding (map keys by length, then bytewise: e before l;
 * k, p, t, v), each key stored as the length of the prefix it shares with the previous key and
 * the rest, as @atproto/repo writes nodes (the tests check it byte for byte).
 */
export function mstNodeCid(keys: readonly string[], values: readonly Uint8Array[], subtrees: readonly (Uint8Array | null)[]): Uint8Array {
  let size = 1 + 2 + headSize(keys.length) + 2 + linkSize(subtrees[0]!)
  let previous = ''
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const prefix = sharedPrefix(previous, key)
    size += 1 + 2 + headSize(key.length - prefix) + key.length - prefix + 2 + headSize(prefix) + 2 + linkSize(subtrees[i + 1]!) + 2 + linkSize(values[i]!)
    previous = key
  }
  const out = size <= ENCODE_SCRATCH.length ? ENCODE_SCRATCH : new Uint8Array(size)
  let pos = writeHead(out, 0, MAP, 2)
  pos = writeField(out, pos, 0x65 /* e */)
  pos = writeHead(out, pos, ARRAY, keys.length)
  previous = ''
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const prefix = sharedPrefix(previous, key)
    pos = writeHead(out, pos, MAP, 4)
    pos = writeField(out, pos, 0x6b /* k */)
    pos = writeHead(out, pos, BYTES, key.length - prefix)
    for (let c = prefix; c < key.length; c++) out[pos++] = key.charCodeAt(c)
    pos = writeField(out, pos, 0x70 /* p */)
    pos = writeHead(out, pos, UINT, prefix)
    pos = writeField(out, pos, 0x74 /* t */)
    pos = writeLink(out, pos, subtrees[i + 1]!)
    pos = writeField(out, pos, 0x76 /* v */)
    pos = writeLink(out, pos, values[i]!)
    previous = key
  }
  pos = writeField(out, pos, 0x6c /* l */)
  writeLink(out, pos, subtrees[0]!)
  const digest = nodeCrypto.hash('sha256', out.subarray(0, size), 'binary') // latin1: one char per byte, no Buffer for the digest
  const cid = new Uint8Array(NODE_CID_LENGTH)
  for (let i = 0; i < NODE_CID_PREFIX.length; i++) cid[i] = NODE_CID_PREFIX[i]!
  for (let i = 0; i < 32; i++) cid[4 + i] = digest.charCodeAt(i)
  return cid
}

function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

function linkSize(cid: Uint8Array | null): number {
  return cid === null ? 1 : 2 + headSize(cid.length + 1) + cid.length + 1
}

/** Writes a CBOR head at `pos`; returns the position after it (as do the writers below). */
function writeHead(out: Uint8Array, pos: number, major: number, n: number): number {
  if (n < 24) {
    out[pos] = (major << 5) | n
    return pos + 1
  }
  if (n < 0x100) {
    out[pos] = (major << 5) | 24
    out[pos + 1] = n
    return pos + 2
  }
  if (n < 0x10000) {
    out[pos] = (major << 5) | 25
    out[pos + 1] = n >> 8
    out[pos + 2] = n & 0xff
    return pos + 3
  }
  out[pos] = (major << 5) | 26
  out[pos + 1] = (n >>> 24) & 0xff
  out[pos + 2] = (n >> 16) & 0xff
  out[pos + 3] = (n >> 8) & 0xff
  out[pos + 4] = n & 0xff
  return pos + 5
}

/** A one-character text string (a field name). */
function writeField(out: Uint8Array, pos: number, name: number): number {
  out[pos] = 0x61
  out[pos + 1] = name
  return pos + 2
}

function writeLink(out: Uint8Array, pos: number, cid: Uint8Array | null): number {
  if (cid === null) {
    out[pos] = NULL
    return pos + 1
  }
  out[pos] = TAG_42[0]
  out[pos + 1] = TAG_42[1]
  pos = writeHead(out, pos + 2, BYTES, cid.length + 1)
  out[pos++] = 0
  out.set(cid, pos)
  return pos + cid.length
}

function sharedPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  let i = 0
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++
  return i
}

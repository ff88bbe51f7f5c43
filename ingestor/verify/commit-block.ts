import * as dagCbor from '@ipld/dag-cbor'
import { readCanonicalCommit } from '../../protocol/commit-block.js'
import { asSignedCommit, unsignedBytes, type SignedCommit } from '../../protocol/repo-commit.js'

/** A commit block read for its signature check: the commit, and the bytes its `sig` signs. */
export interface CommitBlock {
  commit: SignedCommit
  /** The commit without `sig`, DAG-CBOR encoded (what protocol/repo-commit.ts unsignedBytes gives). */
  unsigned: Uint8Array
}

/**
 * Reads a commit block. The usual block is read in place (protocol/commit-block.ts) and its
 * unsigned bytes are the block with the `sig` entry cut out: byte for byte what decoding and
 * re-encoding without `sig` gives, without @ipld/dag-cbor's object building and encoder (~0.02 ms
 * a frame). Any other block, unusual or malformed, goes through @ipld/dag-cbor as before, so both
 * paths accept and refuse the same blocks (test/ingestor/verify-commit-block.test.ts). Null: not a
 * v3 commit; throws when the block is not DAG-CBOR.
 */
export function readCommitBlock(block: Uint8Array): CommitBlock | null {
  const canonical = readCanonicalCommit(block)
  if (canonical === null) return readAnyCommit(block)
  const { commit, sigStart, sigEnd } = canonical
  const unsigned = new Uint8Array(block.length - (sigEnd - sigStart))
  unsigned[0] = block[0]! - 1 // one entry fewer in the map's head
  unsigned.set(block.subarray(1, sigStart), 1)
  unsigned.set(block.subarray(sigEnd), sigStart)
  return { commit, unsigned }
}

function readAnyCommit(block: Uint8Array): CommitBlock | null {
  const commit = asSignedCommit(dagCbor.decode(block))
  return commit === null ? null : { commit, unsigned: unsignedBytes(commit) }
}

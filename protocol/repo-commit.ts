import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { signatureValid, type SigningKey } from './signing-key.js'

/** A repo commit block, decoded: what `sig` signs is this object without `sig`, re-encoded. */
export interface SignedCommit {
  did: string
  version: number
  /** The MST root. */
  data: CID
  rev: string
  prev: CID | null
  sig: Uint8Array
}

/**
 * The decoded block as a v3 repo commit (atproto repository spec: `version` 3, string `did` and
 * `rev`, a `data` link, `sig` bytes), or null when it is not one. The object itself is returned,
 * unknown fields included, so that unsignedBytes re-encodes exactly what was signed.
 */
export function asSignedCommit(value: unknown): SignedCommit | null {
  const commit = value as Partial<SignedCommit> | null
  if (commit === null || typeof commit !== 'object' || commit.version !== 3 || typeof commit.did !== 'string' || typeof commit.rev !== 'string' || !(commit.sig instanceof Uint8Array) || CID.asCID(commit.data) === null) {
    return null
  }
  return commit as SignedCommit
}

/** The bytes `sig` signs: the commit without `sig`, DAG-CBOR encoded (atproto repo spec). */
export function unsignedBytes(commit: SignedCommit): Uint8Array {
  const { sig: _sig, ...unsigned } = commit
  return dagCbor.encode(unsigned)
}

/** True when the commit's `sig` is `key`'s signature of its unsigned bytes. Never throws. */
export function commitSignatureValid(commit: SignedCommit, key: SigningKey): boolean {
  return signatureValid(key, unsignedBytes(commit), commit.sig)
}

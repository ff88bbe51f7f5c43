import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { P256_JWT_ALG, SECP256K1_JWT_ALG, parseMultikey } from '@atproto/crypto'
import { LruCache } from '../common/lru-cache.js'

/**
 * An account's atproto signing key, parsed once (when its DID document is resolved): the
 * SubjectPublicKeyInfo DER of its compressed point, ~90 bytes, so the DID cache stays small.
 * Parsing is @atproto/crypto's (parseMultikey); the ECDSA check is node:crypto's, about 6x faster
 * per signature than @atproto/crypto's pure-JS verifySignature (bench/verify.ts, docs/verify.md),
 * with the same rules: compact 64-byte r||s, low-S only, SHA-256.
 */
export interface SigningKey {
  /** `did:key:z...` as the DID document gives it (multibase multikey). */
  readonly didKey: string
  readonly jwtAlg: typeof SECP256K1_JWT_ALG | typeof P256_JWT_ALG
  readonly spki: Buffer
}

// SubjectPublicKeyInfo DER up to the 33-byte compressed point (id-ecPublicKey + curve OID).
const SPKI_PREFIX = {
  [SECP256K1_JWT_ALG]: Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex'),
  [P256_JWT_ALG]: Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
}
/** Half the group order of each curve, big-endian: a valid atproto signature has s <= n/2 (low-S). */
const HALF_ORDER = {
  [SECP256K1_JWT_ALG]: Buffer.from('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'hex'),
  [P256_JWT_ALG]: Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex'),
}
/**
 * OpenSSL key objects of the keys used most recently, per thread that checks signatures (at most
 * ~34 MiB each). One costs ~3.4 KB of native memory, so they are not kept per cached DID (50,000
 * would be ~170 MiB of RSS); building one costs ~0.3-0.5 ms, as much as the check itself, so the
 * accounts that commit often keep theirs.
 */
const keyObjects = new LruCache<string, KeyObject>(10_000)
const KEY_OBJECT_TTL_MS = 3_600_000

/** Parses a multibase multikey (`z...`, the DID document's publicKeyMultibase); throws on anything else. */
export function parseSigningKey(multikey: string): SigningKey {
  const { jwtAlg, keyBytes } = parseMultikey(multikey)
  if (jwtAlg !== SECP256K1_JWT_ALG && jwtAlg !== P256_JWT_ALG) throw new Error(`unsupported key type ${jwtAlg}`)
  // parseMultikey hands back the uncompressed point (0x04 || x || y); the SPKI takes it compressed.
  const compressed = Buffer.alloc(33)
  compressed[0] = 2 + (keyBytes[64]! & 1)
  compressed.set(keyBytes.subarray(1, 33), 1)
  const spki = Buffer.concat([SPKI_PREFIX[jwtAlg], compressed])
  createPublicKey({ key: spki, format: 'der', type: 'spki' }) // an invalid point fails here, at resolution, not at the first check
  return { didKey: `did:key:${multikey}`, jwtAlg, spki }
}

/** True when `sig` is a valid low-S compact signature of `data` by `key`. Never throws. */
export function signatureValid(key: SigningKey, data: Uint8Array, sig: Uint8Array): boolean {
  if (sig.byteLength !== 64 || Buffer.compare(sig.subarray(32), HALF_ORDER[key.jwtAlg]) > 0) return false
  try {
    return verify('sha256', data, { key: keyObject(key), dsaEncoding: 'ieee-p1363' }, sig)
  } catch {
    return false
  }
}

function keyObject(key: SigningKey): KeyObject {
  let object = keyObjects.get(key.didKey)
  if (object === undefined) {
    object = createPublicKey({ key: key.spki, format: 'der', type: 'spki' })
    keyObjects.set(key.didKey, object, KEY_OBJECT_TTL_MS)
  }
  return object
}

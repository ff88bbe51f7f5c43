import { createPublicKey, hash, verify, type KeyObject } from 'node:crypto'
import { P256_JWT_ALG, SECP256K1_JWT_ALG, parseMultikey } from '@atproto/crypto'
import { LruCache } from '../common/lru-cache.js'
import { Secp256k1Verifier } from './secp256k1/index.js'

/**
 * An account's atproto signing key, parsed once (when its DID document is resolved): the
 * SubjectPublicKeyInfo DER of its point, <= 88 bytes, so the DID cache stays small: secp256k1
 * uncompressed (a check then needs no square root), P-256 compressed.
 * Parsing is @atproto/crypto's (parseMultikey). The ECDSA check follows @atproto/crypto's
 * verifySignature rules (compact 64-byte r||s, low-S only, SHA-256): secp256k1 keys (most
 * accounts) in protocol/secp256k1, ~3x faster than node:crypto for the accounts that commit often
 * and ~1.5x for the others (bench/secp256k1.ts); P-256 keys with node:crypto, fast for that curve.
 */
export interface SigningKey {
  /** `did:key:z...` as the DID document gives it (multibase multikey). */
  readonly didKey: string
  readonly jwtAlg: typeof SECP256K1_JWT_ALG | typeof P256_JWT_ALG
  readonly spki: Buffer
}

// SubjectPublicKeyInfo DER up to the point (id-ecPublicKey + curve OID): secp256k1's 65-byte uncompressed, P-256's 33-byte compressed.
const SPKI_PREFIX = {
  [SECP256K1_JWT_ALG]: Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex'),
  [P256_JWT_ALG]: Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
}
/** Half P-256's group order, big-endian: a valid atproto signature has s <= n/2 (low-S). */
const P256_HALF_ORDER = Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex')
/**
 * OpenSSL key objects of the P-256 keys used most recently, per thread that checks signatures (at
 * most ~34 MiB each). One costs ~3.4 KB of native memory, so they are not kept per cached DID
 * (50,000 would be ~170 MiB of RSS); building one costs ~0.3-0.5 ms, more than the check itself,
 * so the accounts that commit often keep theirs.
 */
const keyObjects = new LruCache<string, KeyObject>(10_000)
const KEY_OBJECT_TTL_MS = 3_600_000
/** This thread's secp256k1 checks, with their bounded per-key caches (protocol/secp256k1/key-cache.ts). */
const secp256k1 = new Secp256k1Verifier()

/** Parses a multibase multikey (`z...`, the DID document's publicKeyMultibase); throws on anything else. */
export function parseSigningKey(multikey: string): SigningKey {
  const { jwtAlg, keyBytes } = parseMultikey(multikey)
  if (jwtAlg !== SECP256K1_JWT_ALG && jwtAlg !== P256_JWT_ALG) throw new Error(`unsupported key type ${jwtAlg}`)
  // parseMultikey hands back the uncompressed point (0x04 || x || y), decompressed and so on the curve.
  if (jwtAlg === SECP256K1_JWT_ALG) return { didKey: `did:key:${multikey}`, jwtAlg, spki: Buffer.concat([SPKI_PREFIX[jwtAlg], keyBytes]) }
  const compressed = Buffer.alloc(33)
  compressed[0] = 2 + (keyBytes[64]! & 1)
  compressed.set(keyBytes.subarray(1, 33), 1)
  const spki = Buffer.concat([SPKI_PREFIX[jwtAlg], compressed])
  createPublicKey({ key: spki, format: 'der', type: 'spki' }) // OpenSSL must take it: a bad key fails here, at resolution
  return { didKey: `did:key:${multikey}`, jwtAlg, spki }
}

/** True when `sig` is a valid low-S compact signature of `data` by `key`. Never throws. */
export function signatureValid(key: SigningKey, data: Uint8Array, sig: Uint8Array): boolean {
  if (key.jwtAlg === SECP256K1_JWT_ALG) return secp256k1.verify(key.spki.subarray(SPKI_PREFIX[SECP256K1_JWT_ALG].byteLength), hash('sha256', data, 'buffer'), sig)
  if (sig.byteLength !== 64 || Buffer.compare(sig.subarray(32), P256_HALF_ORDER) > 0) return false
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

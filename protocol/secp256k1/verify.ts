import { fe, feFromBigInt, fromBytes, isZero, mul, mulSmall, sub } from './field.js'
import { gComb } from './g-table.js'
import { DEFAULT_KEY_CACHE, KeyCache, type KeyCacheOptions } from './key-cache.js'
import { multiplyCold, multiplyHot } from './multiply.js'
import { point } from './point.js'
import { HALF_N, N, P_MINUS_N, readScalar } from './scalar.js'
import { invertScalar } from './scalar-invert.js'

/**
 * secp256k1 ECDSA verification in plain JS, for repo commit signatures (atproto: compact r || s,
 * low-S only, over the SHA-256 of the unsigned commit). node:crypto (OpenSSL) has no fast path
 * for this curve (~0.35 ms of CPU a check, and ~0.3 ms more to build a key object); this is ~3x
 * faster than OpenSSL for the accounts that commit often (~0.1 ms) and ~1.5x for the others
 * (~0.2 ms): bench/secp256k1.ts, which also runs the Zipf-skewed mix of the verify bench.
 *
 * Design:
 * - field.ts: the base field on 11 limbs of 24 bits in float64 (exact products, no BigInt);
 *   field-pow.ts inverts and takes square roots by exponentiation.
 * - point.ts: projective points with complete addition formulas (Renes-Costello-Batina), so no
 *   input reaches an exceptional case (doubling, infinity): no fallback path to get right.
 * - comb.ts: signed-digit combs, precomputed affine multiples whose additions share doublings.
 *   g-table.ts: G's comb, 2^15 points (2.9 MB), built at the first check (~0.25 s of CPU).
 * - scalar.ts, scalar-invert.ts: r, s, the hash and u1, u2 mod n as BigInt, but 1/s by safegcd
 *   on float limbs (BigInt's extended Euclid would cost a fifth of a hot check).
 * - multiply.ts: u1 * G + u2 * Q in one Horner chain; u2 split by the GLV endomorphism into two
 *   128-bit halves. A hot key has a comb of 128 points (11 KB): 16 doublings and 50 mixed
 *   additions. A cold key has its wNAF (w = 5) on ~130 doublings; G's comb rides on the last 16.
 * - key-cache.ts: decompressed points of the keys seen recently (LRU, 16,384, ~0.5 KB each) and
 *   combs of the keys checked 3 times or more (LRU, 4,096, ~11 KB each): ~54 MiB at most per
 *   thread that checks signatures, G's comb included. A comb costs ~0.5 ms (2-3 cold checks);
 *   on the Zipf mix, building at the 3rd check beat the 2nd and the 4th.
 * - Here: the checks @atproto/crypto's verifySignature (noble-curves, lowS, compact) makes:
 *   64-byte signature, r and s in [1, n-1], s <= n/2, a key on the curve; e = hash mod n;
 *   R = (e/s) G + (r/s) Q; valid when R is not infinity and R.x ≡ r (mod n), compared without
 *   inverting R.z: r * Z = X, or (r + n) * Z = X when r + n < p.
 */
export type Secp256k1Options = KeyCacheOptions

export class Secp256k1Verifier {
  private readonly keys: KeyCache
  private readonly sum = point()
  private readonly r = fe()
  private readonly t = fe()
  /** Checks that reached the point multiplication, with and without the key's comb. */
  readonly counts = { hot: 0, cold: 0 }

  constructor(options: Partial<Secp256k1Options> = {}) {
    this.keys = new KeyCache({ ...DEFAULT_KEY_CACHE, ...options })
  }

  /** Public keys read (decompressed or checked on the curve) and combs built so far. */
  get keyCounts(): Readonly<{ keysRead: number; combsBuilt: number }> {
    return this.keys.counts
  }

  /** True when sig (compact r || s, low-S) is publicKey's (SEC1: 65 bytes uncompressed or 33 compressed) signature of the 32-byte hash. Never throws on input. */
  verify(publicKey: Uint8Array, hash: Uint8Array, sig: Uint8Array): boolean {
    if (sig.byteLength !== 64 || hash.byteLength !== 32) return false
    const r = readScalar(sig, 0)
    const s = readScalar(sig, 32)
    if (r === 0n || r >= N || s === 0n || s > HALF_N) return false
    const key = this.keys.get(publicKey)
    if (key === null) return false
    const w = invertScalar(sig, 32)
    const u1 = ((readScalar(hash, 0) % N) * w) % N
    const u2 = (r * w) % N
    const { sum } = this
    if (key.comb !== null) {
      this.counts.hot++
      multiplyHot(sum, u1, u2, gComb(), key.comb, key.x, key.y)
    } else {
      this.counts.cold++
      multiplyCold(sum, u1, u2, gComb(), key.x, key.y)
    }
    if (isZero(sum.z)) return false
    fromBytes(this.r, sig, 0)
    mulSmall(this.r, this.r, 1)
    if (this.xIs(this.r)) return true
    return r < P_MINUS_N && this.xIs(feFromBigInt(r + N))
  }

  /** Whether sum's affine x is the field element c: c * Z = X. */
  private xIs(c: Float64Array): boolean {
    mul(this.t, c, this.sum.z)
    sub(this.t, this.t, this.sum.x)
    return isZero(this.t)
  }
}

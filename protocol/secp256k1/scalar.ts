/**
 * Scalars mod n, the group order, as BigInt: a signature needs only a handful of operations on
 * them (parse, two products, the GLV split), next to ~800 field multiplications. The one that
 * would cost more, 1/s, is scalar-invert.ts's.
 */
export const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
/** A low-S signature has s <= n/2 (floor). */
export const HALF_N = N >> 1n
/** p - n: an r below it may stand for the x-coordinate r + n too. */
export const P_MINUS_N = 0x14551231950b75fc4402da1722fc9baeen

/** The 32 big-endian bytes at offset as an integer. */
export function readScalar(bytes: Uint8Array, offset: number): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 32)
  return (view.getBigUint64(0) << 192n) | (view.getBigUint64(8) << 128n) | (view.getBigUint64(16) << 64n) | view.getBigUint64(24)
}

// GLV (Gallant, Lambert, Vanstone 2001): lambda * (x, y) = (beta * x, y), and k = k1 + k2 * lambda
// with |k1|, |k2| < 2^128, from the short basis (a1, b1), (a2, b2) of libsecp256k1 (scalar_impl.h).
export const BETA = 0x7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501een
const A1 = 0x3086d221a7d46bcde86c90e49284eb15n
const MINUS_B1 = 0xe4437ed6010e88286f547fa90abfe4c3n
const A2 = 0x114ca50f7a8e2f3f657c1108d9d44cfd8n
const B2 = A1
/** g1 = round(2^384 * b2 / n), g2 = round(2^384 * -b1 / n): c = round(k * g / 2^384) without a division. */
const G1 = 0x3086d221a7d46bcde86c90e49284eb153daa8a1471e8ca7fe893209a45dbb031n
const G2 = 0xe4437ed6010e88286f547fa90abfe4c4221208ac9df506c61571b4ae8ac47f71n
const HALF = 1n << 383n

/**
 * k1, k2 (signed) with k ≡ k1 + k2 * lambda (mod n) for 0 <= k < n. Any c1, c2 give that identity
 * (a_i + b_i * lambda ≡ 0); rounding them as libsecp256k1 does keeps |k1|, |k2| below 2^128.
 */
export function splitGlv(k: bigint): [bigint, bigint] {
  const c1 = (k * G1 + HALF) >> 384n
  const c2 = (k * G2 + HALF) >> 384n
  return [k - c1 * A1 - c2 * A2, c1 * MINUS_B1 - c2 * B2]
}

/** The low 32 * out.length bits of k >= 0, least significant word first. */
export function toWords(k: bigint, out: Uint32Array): void {
  for (let i = 0; i < out.length; i++, k >>= 32n) out[i] = Number(k & 0xffffffffn)
}

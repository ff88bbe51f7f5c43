import { copy, fe, fromBytes, isOdd, isZero, mul, mulSmall, neg, sqr, sub, type Fe } from './field.js'
import { invert, sqrt } from './field-pow.js'
import type { Point } from './point.js'

/**
 * Affine points: public keys (read once per key) and precomputed tables (projective
 * points brought to affine together, with one inversion, so that additions against them are the
 * cheaper mixed additions). Tables are flat arrays of limbs, [x0..x10, y0..y10] per point.
 */
export const AFFINE_LIMBS = 22
/** Projective points while a table is built: [x, y, z] limbs per point. */
export const PROJECTIVE_LIMBS = 33

const y2 = fe()
const t = fe()

/** o = x^3 + 7, the curve's y^2 at x (x of 1 unit). */
function curve(o: Fe, x: Fe): void {
  sqr(o, x)
  mul(o, o, x)
  o[0] = o[0]! + 7
}

/**
 * The point of a SEC1 public key into x and y (1 unit each): 65 bytes uncompressed (0x04 || x ||
 * y, checked on the curve) or 33 compressed (0x02/0x03 || x, y from the curve equation: a square
 * root, ~270 multiplications). False when it is not a point of the curve: another length or
 * prefix, a coordinate >= p, y^2 != x^3 + 7, or x^3 + 7 without a square root.
 */
export function readPublicKey(x: Fe, y: Fe, key: Uint8Array): boolean {
  if (key.byteLength === 65 && key[0] === 4) {
    if (!fromBytes(x, key, 1) || !fromBytes(y, key, 33)) return false
    mulSmall(x, x, 1) // fromBytes' limbs reach 2^24 (2 units)
    mulSmall(y, y, 1)
    curve(y2, x)
    sqr(t, y)
    sub(t, t, y2)
    return isZero(t)
  }
  if (key.byteLength !== 33 || (key[0] !== 2 && key[0] !== 3)) return false
  if (!fromBytes(x, key, 1)) return false
  mulSmall(x, x, 1)
  curve(y2, x)
  if (!sqrt(y, y2)) return false
  if (isOdd(y) !== (key[0] === 3)) neg(y, y)
  return true
}

export function storePoint(to: Float64Array, at: number, p: Point): void {
  for (let i = 0; i < 11; i++) {
    to[at + i] = p.x[i]!
    to[at + 11 + i] = p.y[i]!
    to[at + 22 + i] = p.z[i]!
  }
}

export function loadPoint(p: Point, from: Float64Array, at: number): void {
  for (let i = 0; i < 11; i++) {
    p.x[i] = from[at + i]!
    p.y[i] = from[at + 11 + i]!
    p.z[i] = from[at + 22 + i]!
  }
}

/** x, y = the affine point at index of a table; y negated when negate. */
export function loadAffine(x: Fe, y: Fe, table: Int32Array, index: number, negate: boolean): void {
  const at = index * AFFINE_LIMBS
  for (let i = 0; i < 11; i++) x[i] = table[at + i]!
  if (negate) for (let i = 0; i < 11; i++) y[i] = 0 - table[at + 11 + i]!
  else for (let i = 0; i < 11; i++) y[i] = table[at + 11 + i]!
}

const zi = fe()
const acc = fe()
const limb = fe()

function loadFe(o: Fe, from: Float64Array, at: number): void {
  for (let j = 0; j < 11; j++) o[j] = from[at + j]!
}

/**
 * The affine form of count projective points (PROJECTIVE_LIMBS each, none of them infinity),
 * 1-unit limbs in an Int32Array (AFFINE_LIMBS each), with one inversion (Montgomery's trick).
 */
export function toAffine(points: Float64Array, count: number): Int32Array {
  // prefix[i] = z0 * ... * zi
  const prefix = new Float64Array(count * 11)
  for (let i = 0; i < count; i++) {
    loadFe(zi, points, i * PROJECTIVE_LIMBS + 22)
    if (i > 0) {
      loadFe(acc, prefix, (i - 1) * 11)
      mul(zi, zi, acc)
    }
    for (let j = 0; j < 11; j++) prefix[i * 11 + j] = zi[j]!
  }
  loadFe(acc, prefix, (count - 1) * 11)
  if (isZero(acc)) throw new Error('toAffine: a point at infinity has no affine form')
  invert(acc, acc) // 1 / (z0 ... z_last)
  const out = new Int32Array(count * AFFINE_LIMBS)
  for (let i = count - 1; i >= 0; i--) {
    // zi = 1/z_i = acc * prefix[i-1]; then acc = 1 / (z0 ... z_(i-1))
    if (i > 0) {
      loadFe(zi, prefix, (i - 1) * 11)
      mul(zi, zi, acc)
      loadFe(limb, points, i * PROJECTIVE_LIMBS + 22)
      mul(acc, acc, limb)
    } else copy(zi, acc)
    for (let offset = 0; offset < 22; offset += 11) {
      loadFe(limb, points, i * PROJECTIVE_LIMBS + offset)
      mul(limb, limb, zi)
      for (let j = 0; j < 11; j++) out[i * AFFINE_LIMBS + offset + j] = limb[j]!
    }
  }
  return out
}

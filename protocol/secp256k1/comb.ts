import { AFFINE_LIMBS, loadAffine, loadPoint, PROJECTIVE_LIMBS, storePoint, toAffine } from './affine.js'
import { copy, fe, mul, type Fe } from './field.js'
import { addAffine, double, point, type Point } from './point.js'
import { toWords } from './scalar.js'

/**
 * A signed-digit comb (Hamburg 2012; libsecp256k1's ecmult_gen): precomputed multiples of a point
 * P such that k * P for an odd k < 2^(teeth * spacing) costs `spacing` mixed additions and
 * `spacing - 1` doublings, the doublings shared with every other comb of the same multiplication.
 *
 * An odd k is sum of sigma_i * 2^i over i < m = teeth * spacing, each sigma_i = ±1: sigma_i is
 * bit i of (k >> 1) | 2^(m-1), read as +1 for 1 and -1 for 0. Read the m digits as `teeth` rows
 * of `spacing` columns: column s of k * P is sum over tooth t of sigma_(t*spacing + s) *
 * 2^(t*spacing) * P, one of 2^teeth points, and k * P = sum over s of 2^s * column(s) (Horner:
 * double, add the next column). A point and its negation are both in the table's reach, so it
 * stores the 2^(teeth-1) columns whose top tooth is +1 (index: the other teeth's bits) and
 * negates for the rest.
 */
export interface Comb {
  readonly teeth: number
  readonly spacing: number
  /** 2^(teeth-1) affine points, AFFINE_LIMBS each. */
  readonly table: Int32Array
}

/** Bytes of a comb's table. */
export function combBytes(teeth: number): number {
  return 2 ** (teeth - 1) * AFFINE_LIMBS * Int32Array.BYTES_PER_ELEMENT
}

const acc = point()
const px = fe()
const py = fe()

/**
 * The comb of the affine point (x, y) (1 unit each, not infinity), teeth * spacing <= 256: a
 * column's multiplier is then odd and below n in absolute value, so no column is infinity.
 */
export function buildComb(x: Fe, y: Fe, teeth: number, spacing: number): Comb {
  // bases: 2^(t*spacing) * P for each tooth t, then their doubles 2^(t*spacing + 1) * P but the last.
  const bases = new Float64Array((2 * teeth - 1) * PROJECTIVE_LIMBS)
  copy(acc.x, x)
  copy(acc.y, y)
  acc.z.fill(0)
  acc.z[0] = 1
  for (let t = 0; t < teeth; t++) {
    storePoint(bases, t * PROJECTIVE_LIMBS, acc)
    if (t === teeth - 1) break
    for (let d = 0; d < spacing; d++) {
      double(acc, acc)
      if (d === 0) storePoint(bases, (teeth + t) * PROJECTIVE_LIMBS, acc)
    }
  }
  const affine = toAffine(bases, 2 * teeth - 1)
  // Column 0 (all teeth -1 but the top): P_top - sum of the others. Column i: column (i without its
  // top bit j) + 2 * P_j, which turns tooth j's digit from -1 to +1.
  const size = 2 ** (teeth - 1)
  const columns = new Float64Array(size * PROJECTIVE_LIMBS)
  loadAffine(px, py, affine, teeth - 1, false)
  copy(acc.x, px)
  copy(acc.y, py)
  acc.z.fill(0)
  acc.z[0] = 1
  for (let t = 0; t < teeth - 1; t++) {
    loadAffine(px, py, affine, t, true)
    addAffine(acc, acc, px, py)
  }
  storePoint(columns, 0, acc)
  for (let i = 1; i < size; i++) {
    const j = 31 - Math.clz32(i)
    loadPoint(acc, columns, (i ^ (1 << j)) * PROJECTIVE_LIMBS)
    loadAffine(px, py, affine, teeth + j, false)
    addAffine(acc, acc, px, py)
    storePoint(columns, i * PROJECTIVE_LIMBS, acc)
  }
  return { teeth, spacing, table: toAffine(columns, size) }
}

const bit = (words: Uint32Array, i: number): number => (words[i >>> 5]! >>> (i & 31)) & 1

/**
 * The comb digits of an odd k < 2^(teeth * spacing): (k >> 1) | 2^(m-1), into words (enough for
 * m bits, least significant first).
 */
export function combDigits(k: bigint, comb: Comb, words: Uint32Array): void {
  toWords((k >> 1n) | (1n << BigInt(comb.teeth * comb.spacing - 1)), words)
}

const cx = fe()
const cy = fe()

/**
 * acc += column s of the comb for the digits in words, negated when negate; with beta, of the
 * comb of lambda * P (x * beta: the GLV endomorphism, so one table serves both halves of k).
 */
export function addColumn(acc: Point, comb: Comb, words: Uint32Array, s: number, negate: boolean, beta: Fe | null): void {
  const { teeth, spacing } = comb
  let index = 0
  for (let t = 0; t < teeth - 1; t++) index |= bit(words, t * spacing + s) << t
  if (bit(words, (teeth - 1) * spacing + s) === 0) {
    index = ~index & ((1 << (teeth - 1)) - 1)
    negate = !negate
  }
  loadAffine(cx, cy, comb.table, index, negate)
  if (beta !== null) mul(cx, cx, beta)
  addAffine(acc, acc, cx, cy)
}

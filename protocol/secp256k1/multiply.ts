import { addColumn, combDigits, type Comb } from './comb.js'
import { copy, fe, feFromBigInt, mul, neg, type Fe } from './field.js'
import { addAffine, addPoint, double, point, setInfinity, settle, type Point } from './point.js'
import { BETA, N, splitGlv, toWords } from './scalar.js'
import { wnaf } from './wnaf.js'

/**
 * u1 * G + u2 * Q, the point an ECDSA check compares with r, as one Horner chain whose doublings
 * all the terms share. G always has its comb (gComb, spacing <= the chain's last steps). Q has
 * one when its key is hot (multiplyHot: 16 doublings, 50 mixed additions) or only its affine
 * point (multiplyCold: ~130 doublings, ~43 additions of wNAF odd multiples). u2 is split by GLV
 * into two ~128-bit halves, the second applied to lambda * Q (x * beta), so both fit Q_TEETH *
 * Q_SPACING = 136 bits.
 */
export const Q_TEETH = 8
export const Q_SPACING = 17
const Q_BITS = Q_TEETH * Q_SPACING
/** wNAF window for cold keys: 8 odd multiples of Q (w = 6 would need 16 and save ~6 additions). */
const W = 5

const BETA_FE = feFromBigInt(BETA)
const gWords = new Uint32Array(8)
const qWords = [new Uint32Array(5), new Uint32Array(5)] as const
const qx = fe()
const qy = fe()

/** G's comb digits of u1 into gWords; returns whether its points are to be negated (u1 even: n - u1 is odd). */
function gDigits(u1: bigint, gComb: Comb): boolean {
  const even = (u1 & 1n) === 0n
  combDigits(even ? N - u1 : u1, gComb, gWords)
  return even
}

/** The GLV halves of u2 (splitU2): magnitudes and signs. */
const magnitude: [bigint, bigint] = [0n, 0n]
const negative: [boolean, boolean] = [false, false]
const HALF_LIMIT = 1n << BigInt(Q_BITS - 1)

function splitU2(u2: bigint): void {
  const halves = splitGlv(u2)
  for (let h = 0; h < 2; h++) {
    const k = halves[h]!
    const size = k < 0n ? -k : k
    if (size >= HALF_LIMIT) throw new Error(`GLV split of ${u2} out of bounds`)
    negative[h] = k < 0n
    magnitude[h] = size
  }
}

/** out = u1 * G + u2 * Q with Q's comb (and its affine point x, y for the odd-multiple fix-up). */
export function multiplyHot(out: Point, u1: bigint, u2: bigint, gComb: Comb, qComb: Comb, x: Fe, y: Fe): void {
  const negG = gDigits(u1, gComb)
  splitU2(u2)
  // A comb takes odd multipliers: an even half k is computed as k + 1, and Q (or lambda * Q) taken off after.
  for (let h = 0; h < 2; h++) combDigits(magnitude[h]! | 1n, qComb, qWords[h]!)
  setInfinity(out)
  for (let s = Q_SPACING - 1; s >= 0; s--) {
    if (s < Q_SPACING - 1) double(out, out)
    addColumn(out, qComb, qWords[0], s, negative[0], null)
    addColumn(out, qComb, qWords[1], s, negative[1], BETA_FE)
    if (s < gComb.spacing) addColumn(out, gComb, gWords, s, negG, null)
  }
  for (let h = 0; h < 2; h++) {
    if ((magnitude[h]! & 1n) === 1n) continue
    copy(qx, x)
    if (h === 1) mul(qx, qx, BETA_FE)
    if (negative[h]) copy(qy, y)
    else neg(qy, y)
    addAffine(out, out, qx, qy)
  }
}

const multiples = [Array.from({ length: 2 ** (W - 2) }, point), Array.from({ length: 2 ** (W - 2) }, point)] as const
const twice = point()
const term = point()
const digits = [new Int32Array(Q_BITS), new Int32Array(Q_BITS)] as const

/** The odd multiples (2i + 1) * Q of the affine (x, y), and their lambda images, settled for addPoint. */
function oddMultiples(x: Fe, y: Fe): void {
  const [plain, lambda] = multiples
  const first = plain[0]!
  copy(first.x, x)
  copy(first.y, y)
  first.z.fill(0)
  first.z[0] = 1
  double(twice, first)
  settle(twice)
  for (let i = 1; i < plain.length; i++) addPoint(plain[i]!, plain[i - 1]!, twice) // an addition leaves 1 unit: no settle
  for (let i = 0; i < plain.length; i++) {
    mul(lambda[i]!.x, plain[i]!.x, BETA_FE)
    copy(lambda[i]!.y, plain[i]!.y)
    copy(lambda[i]!.z, plain[i]!.z)
  }
}

/** out = u1 * G + u2 * Q for the affine point (x, y) of a key without a comb. */
export function multiplyCold(out: Point, u1: bigint, u2: bigint, gComb: Comb, x: Fe, y: Fe): void {
  const negG = gDigits(u1, gComb)
  splitU2(u2)
  let top = gComb.spacing
  for (let h = 0; h < 2; h++) {
    toWords(magnitude[h]!, qWords[h]!)
    top = Math.max(top, wnaf(digits[h]!, qWords[h]!, Q_BITS, W))
  }
  oddMultiples(x, y)
  setInfinity(out)
  for (let at = top - 1; at >= 0; at--) {
    if (at < top - 1) double(out, out)
    for (let h = 0; h < 2; h++) {
      const digit = digits[h]![at]!
      if (digit === 0) continue
      const from = multiples[h]![Math.abs(digit) >> 1]!
      copy(term.x, from.x)
      copy(term.z, from.z)
      if (digit < 0 !== negative[h]) neg(term.y, from.y)
      else copy(term.y, from.y)
      addPoint(out, out, term)
    }
    if (at < gComb.spacing) addColumn(out, gComb, gWords, at, negG, null)
  }
}

import { copy, fe, isZero, mul, sqr, sub, type Fe } from './field.js'

/**
 * Inversion and square root in the base field by exponentiation (Fermat; p ≡ 3 mod 4), with
 * libsecp256k1's addition chain: both exponents start with 223 one bits, shared below. ~270
 * squarings each, so callers invert once per batch of points (affine.ts toAffine) and take a
 * square root once per compressed public key.
 */

const x2 = fe()
const x3 = fe()
const x22 = fe()
const x44 = fe()
const t = fe()
const u = fe()

/** o = a^(2^count) * b (o may be b; not a). */
function sqrTimes(o: Fe, a: Fe, count: number, b: Fe): void {
  copy(u, a)
  for (let i = 0; i < count; i++) sqr(u, u)
  mul(o, u, b)
}

/** t = a^(2^223 - 1); leaves a^(2^2 - 1) in x2 and a^(2^22 - 1) in x22 for the tails. */
function ones223(a: Fe): void {
  sqrTimes(x2, a, 1, a)
  sqrTimes(x3, x2, 1, a)
  sqrTimes(t, x3, 3, x3) // 6 ones
  sqrTimes(t, t, 3, x3) // 9
  sqrTimes(t, t, 2, x2) // 11
  sqrTimes(x22, t, 11, t)
  sqrTimes(x44, x22, 22, x22)
  sqrTimes(t, x44, 44, x44) // 88
  sqrTimes(t, t, 88, t) // 176: t^(2^88) * t doubles the run of ones
  sqrTimes(t, t, 44, x44) // 220
  sqrTimes(t, t, 3, x3) // 223
}

/** o = 1/a (0 when a is 0): a^(p-2). */
export function invert(o: Fe, a: Fe): void {
  ones223(a)
  sqrTimes(t, t, 23, x22)
  sqrTimes(t, t, 5, a)
  sqrTimes(t, t, 3, x2)
  sqrTimes(o, t, 2, a)
}

const check = fe()

/** o = a square root of a, a^((p+1)/4); false when a has none (o is then meaningless). */
export function sqrt(o: Fe, a: Fe): boolean {
  ones223(a)
  sqrTimes(t, t, 23, x22)
  sqrTimes(t, t, 6, x2)
  sqr(t, t)
  sqr(o, t)
  sqr(check, o)
  sub(check, check, a)
  return isZero(check)
}

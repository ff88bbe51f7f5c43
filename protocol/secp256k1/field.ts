/**
 * secp256k1's base field, p = 2^256 - 2^32 - 977, on plain JS numbers: 11 signed limbs of 24 bits
 * in a Float64Array (value = sum of limb[i] * 2^(24 i)). A product of two limbs is exact in a double
 * (< 2^53), so a field multiplication is 121 float multiplies and a carry pass, with no BigInt
 * (~4x faster than BigInt multiply-and-reduce in V8, measured). Limbs are balanced (rounded to the
 * nearest multiple of 2^24, so they lie in [-2^23, 2^23] plus a few bits): subtraction needs no
 * borrow and a negative limb is fine.
 *
 * Bounds, in "units" of 2^23 (the limb size mul leaves): mul and sqr need units(a) * units(b) <= 11,
 * so that each of the 21 column sums stays below 2^53 (mulAdd: the sum of its two products'
 * units); add/sub/neg add units; mulSmall, mul and mulAdd leave 1 unit. point.ts tracks units
 * through each formula. Only normalize gives the canonical value in [0, p); everything else works
 * on any representative.
 */
export type Fe = Float64Array

const LIMBS = 11
const R = 2 ** 24
const M = 2 ** -24
/** x * M + B - B rounds x / 2^24 to the nearest integer (|x| < 2^75), without Math.round's -0. */
const B = 1.5 * 2 ** 52
/** 2^264 mod p = 2^40 + 250112: a carry out of limb 10 re-enters as K0 at limb 0 and K1 at limb 1. */
const K0 = 250112
const K1 = 65536
const round = (x: number): number => x * M + B - B

export function fe(): Fe {
  return new Float64Array(LIMBS)
}

/** The field element (1 unit) of a non-negative integer below 2^264: constants, and the rare r + n of verify.ts. */
export function feFromBigInt(x: bigint): Fe {
  const o = fe()
  for (let i = 0; i < LIMBS; i++, x >>= 24n) o[i] = Number(x & 0xffffffn)
  mulSmall(o, o, 1)
  return o
}

/** Reads 32 big-endian bytes; false (o then holds the value mod p) when they are p or more. */
export function fromBytes(o: Fe, bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 10; i++) {
    const at = offset + 31 - 3 * i
    o[i] = bytes[at]! | (bytes[at - 1]! << 8) | (bytes[at - 2]! << 16)
  }
  o[10] = bytes[offset + 1]! | (bytes[offset]! << 8)
  normalize(canonical, o)
  for (let i = 0; i < LIMBS; i++) if (canonical[i] !== o[i]) return false
  return true
}

export function copy(o: Fe, a: Fe): void {
  for (let i = 0; i < LIMBS; i++) o[i] = a[i]!
}

// add, sub and neg unrolled: a loop over 11 limbs costs as much again (they run ~25 times per point addition).
export function add(o: Fe, a: Fe, b: Fe): void {
  o[0] = a[0]! + b[0]!
  o[1] = a[1]! + b[1]!
  o[2] = a[2]! + b[2]!
  o[3] = a[3]! + b[3]!
  o[4] = a[4]! + b[4]!
  o[5] = a[5]! + b[5]!
  o[6] = a[6]! + b[6]!
  o[7] = a[7]! + b[7]!
  o[8] = a[8]! + b[8]!
  o[9] = a[9]! + b[9]!
  o[10] = a[10]! + b[10]!
}

export function sub(o: Fe, a: Fe, b: Fe): void {
  o[0] = a[0]! - b[0]!
  o[1] = a[1]! - b[1]!
  o[2] = a[2]! - b[2]!
  o[3] = a[3]! - b[3]!
  o[4] = a[4]! - b[4]!
  o[5] = a[5]! - b[5]!
  o[6] = a[6]! - b[6]!
  o[7] = a[7]! - b[7]!
  o[8] = a[8]! - b[8]!
  o[9] = a[9]! - b[9]!
  o[10] = a[10]! - b[10]!
}

/** o = -a (0 - x rather than -x, which would make -0 and deoptimize V8's integer paths). */
export function neg(o: Fe, a: Fe): void {
  o[0] = 0 - a[0]!
  o[1] = 0 - a[1]!
  o[2] = 0 - a[2]!
  o[3] = 0 - a[3]!
  o[4] = 0 - a[4]!
  o[5] = 0 - a[5]!
  o[6] = 0 - a[6]!
  o[7] = 0 - a[7]!
  o[8] = 0 - a[8]!
  o[9] = 0 - a[9]!
  o[10] = 0 - a[10]!
}

/** o = k * a with 1 unit, for a small integer k (|k * limb| < 2^30: mulSmall(o, a, 21) with a of 3 units at most). */
export function mulSmall(o: Fe, a: Fe, k: number): void {
  const x0 = a[0]! * k,
    x1 = a[1]! * k,
    x2 = a[2]! * k,
    x3 = a[3]! * k,
    x4 = a[4]! * k,
    x5 = a[5]! * k,
    x6 = a[6]! * k,
    x7 = a[7]! * k,
    x8 = a[8]! * k,
    x9 = a[9]! * k,
    x10 = a[10]! * k
  const c0 = round(x0),
    c1 = round(x1),
    c2 = round(x2),
    c3 = round(x3),
    c4 = round(x4),
    c5 = round(x5),
    c6 = round(x6),
    c7 = round(x7),
    c8 = round(x8),
    c9 = round(x9),
    c10 = round(x10)
  // Carries of at most 2^6 keep limbs 2..10 within 1 unit; limbs 0 and 1 take c10's fold and are carried once more.
  let t0 = x0 - c0 * R + c10 * K0
  let t1 = x1 - c1 * R + c0 + c10 * K1
  let t2 = x2 - c2 * R + c1
  let c = round(t0)
  t0 -= c * R
  t1 += c
  c = round(t1)
  t1 -= c * R
  t2 += c
  o[0] = t0
  o[1] = t1
  o[2] = t2
  o[3] = x3 - c3 * R + c2
  o[4] = x4 - c4 * R + c3
  o[5] = x5 - c5 * R + c4
  o[6] = x6 - c6 * R + c5
  o[7] = x7 - c7 * R + c6
  o[8] = x8 - c8 * R + c7
  o[9] = x9 - c9 * R + c8
  o[10] = x10 - c10 * R + c9
}

/** o = a^2 as a multiplication: a dedicated squaring (66 products, not 121) measured no faster in V8 (~75-90 ns each, same run). */
export function sqr(o: Fe, a: Fe): void {
  mul(o, a, a)
}

/** The 21 column sums of a product (mul, mulAdd) for reduce: each below 2^53 by the unit bounds. */
const cols = new Float64Array(21)

/** o = a * b, 1 unit; o may be a or b. Unrolled so that V8 keeps the limbs in registers (a loop over the arrays is ~3x slower). */
export function mul(o: Fe, a: Fe, b: Fe): void {
  const a0 = a[0]!,
    a1 = a[1]!,
    a2 = a[2]!,
    a3 = a[3]!,
    a4 = a[4]!,
    a5 = a[5]!,
    a6 = a[6]!,
    a7 = a[7]!,
    a8 = a[8]!,
    a9 = a[9]!,
    a10 = a[10]!
  const b0 = b[0]!,
    b1 = b[1]!,
    b2 = b[2]!,
    b3 = b[3]!,
    b4 = b[4]!,
    b5 = b[5]!,
    b6 = b[6]!,
    b7 = b[7]!,
    b8 = b[8]!,
    b9 = b[9]!,
    b10 = b[10]!
  cols[0] = a0 * b0
  cols[1] = a0 * b1 + a1 * b0
  cols[2] = a0 * b2 + a1 * b1 + a2 * b0
  cols[3] = a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0
  cols[4] = a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0
  cols[5] = a0 * b5 + a1 * b4 + a2 * b3 + a3 * b2 + a4 * b1 + a5 * b0
  cols[6] = a0 * b6 + a1 * b5 + a2 * b4 + a3 * b3 + a4 * b2 + a5 * b1 + a6 * b0
  cols[7] = a0 * b7 + a1 * b6 + a2 * b5 + a3 * b4 + a4 * b3 + a5 * b2 + a6 * b1 + a7 * b0
  cols[8] = a0 * b8 + a1 * b7 + a2 * b6 + a3 * b5 + a4 * b4 + a5 * b3 + a6 * b2 + a7 * b1 + a8 * b0
  cols[9] = a0 * b9 + a1 * b8 + a2 * b7 + a3 * b6 + a4 * b5 + a5 * b4 + a6 * b3 + a7 * b2 + a8 * b1 + a9 * b0
  cols[10] = a0 * b10 + a1 * b9 + a2 * b8 + a3 * b7 + a4 * b6 + a5 * b5 + a6 * b4 + a7 * b3 + a8 * b2 + a9 * b1 + a10 * b0
  cols[11] = a1 * b10 + a2 * b9 + a3 * b8 + a4 * b7 + a5 * b6 + a6 * b5 + a7 * b4 + a8 * b3 + a9 * b2 + a10 * b1
  cols[12] = a2 * b10 + a3 * b9 + a4 * b8 + a5 * b7 + a6 * b6 + a7 * b5 + a8 * b4 + a9 * b3 + a10 * b2
  cols[13] = a3 * b10 + a4 * b9 + a5 * b8 + a6 * b7 + a7 * b6 + a8 * b5 + a9 * b4 + a10 * b3
  cols[14] = a4 * b10 + a5 * b9 + a6 * b8 + a7 * b7 + a8 * b6 + a9 * b5 + a10 * b4
  cols[15] = a5 * b10 + a6 * b9 + a7 * b8 + a8 * b7 + a9 * b6 + a10 * b5
  cols[16] = a6 * b10 + a7 * b9 + a8 * b8 + a9 * b7 + a10 * b6
  cols[17] = a7 * b10 + a8 * b9 + a9 * b8 + a10 * b7
  cols[18] = a8 * b10 + a9 * b9 + a10 * b8
  cols[19] = a9 * b10 + a10 * b9
  cols[20] = a10 * b10
  reduce(o)
}

/**
 * o = a * b + c * d with one carry pass (the carries are more than half of a multiplication),
 * for units(a) * units(b) + units(c) * units(d) <= 11; o may be any of the inputs. A difference
 * is a sum with c negated (neg).
 */
export function mulAdd(o: Fe, a: Fe, b: Fe, c: Fe, d: Fe): void {
  const a0 = a[0]!,
    a1 = a[1]!,
    a2 = a[2]!,
    a3 = a[3]!,
    a4 = a[4]!,
    a5 = a[5]!,
    a6 = a[6]!,
    a7 = a[7]!,
    a8 = a[8]!,
    a9 = a[9]!,
    a10 = a[10]!
  const b0 = b[0]!,
    b1 = b[1]!,
    b2 = b[2]!,
    b3 = b[3]!,
    b4 = b[4]!,
    b5 = b[5]!,
    b6 = b[6]!,
    b7 = b[7]!,
    b8 = b[8]!,
    b9 = b[9]!,
    b10 = b[10]!
  const c0 = c[0]!,
    c1 = c[1]!,
    c2 = c[2]!,
    c3 = c[3]!,
    c4 = c[4]!,
    c5 = c[5]!,
    c6 = c[6]!,
    c7 = c[7]!,
    c8 = c[8]!,
    c9 = c[9]!,
    c10 = c[10]!
  const d0 = d[0]!,
    d1 = d[1]!,
    d2 = d[2]!,
    d3 = d[3]!,
    d4 = d[4]!,
    d5 = d[5]!,
    d6 = d[6]!,
    d7 = d[7]!,
    d8 = d[8]!,
    d9 = d[9]!,
    d10 = d[10]!
  cols[0] = a0 * b0 + c0 * d0
  cols[1] = a0 * b1 + c0 * d1 + a1 * b0 + c1 * d0
  cols[2] = a0 * b2 + c0 * d2 + a1 * b1 + c1 * d1 + a2 * b0 + c2 * d0
  cols[3] = a0 * b3 + c0 * d3 + a1 * b2 + c1 * d2 + a2 * b1 + c2 * d1 + a3 * b0 + c3 * d0
  cols[4] = a0 * b4 + c0 * d4 + a1 * b3 + c1 * d3 + a2 * b2 + c2 * d2 + a3 * b1 + c3 * d1 + a4 * b0 + c4 * d0
  cols[5] = a0 * b5 + c0 * d5 + a1 * b4 + c1 * d4 + a2 * b3 + c2 * d3 + a3 * b2 + c3 * d2 + a4 * b1 + c4 * d1 + a5 * b0 + c5 * d0
  cols[6] = a0 * b6 + c0 * d6 + a1 * b5 + c1 * d5 + a2 * b4 + c2 * d4 + a3 * b3 + c3 * d3 + a4 * b2 + c4 * d2 + a5 * b1 + c5 * d1 + a6 * b0 + c6 * d0
  cols[7] = a0 * b7 + c0 * d7 + a1 * b6 + c1 * d6 + a2 * b5 + c2 * d5 + a3 * b4 + c3 * d4 + a4 * b3 + c4 * d3 + a5 * b2 + c5 * d2 + a6 * b1 + c6 * d1 + a7 * b0 + c7 * d0
  cols[8] = a0 * b8 + c0 * d8 + a1 * b7 + c1 * d7 + a2 * b6 + c2 * d6 + a3 * b5 + c3 * d5 + a4 * b4 + c4 * d4 + a5 * b3 + c5 * d3 + a6 * b2 + c6 * d2 + a7 * b1 + c7 * d1 + a8 * b0 + c8 * d0
  cols[9] = a0 * b9 + c0 * d9 + a1 * b8 + c1 * d8 + a2 * b7 + c2 * d7 + a3 * b6 + c3 * d6 + a4 * b5 + c4 * d5 + a5 * b4 + c5 * d4 + a6 * b3 + c6 * d3 + a7 * b2 + c7 * d2 + a8 * b1 + c8 * d1 + a9 * b0 + c9 * d0
  cols[10] =
    a0 * b10 +
    c0 * d10 +
    a1 * b9 +
    c1 * d9 +
    a2 * b8 +
    c2 * d8 +
    a3 * b7 +
    c3 * d7 +
    a4 * b6 +
    c4 * d6 +
    a5 * b5 +
    c5 * d5 +
    a6 * b4 +
    c6 * d4 +
    a7 * b3 +
    c7 * d3 +
    a8 * b2 +
    c8 * d2 +
    a9 * b1 +
    c9 * d1 +
    a10 * b0 +
    c10 * d0
  cols[11] = a1 * b10 + c1 * d10 + a2 * b9 + c2 * d9 + a3 * b8 + c3 * d8 + a4 * b7 + c4 * d7 + a5 * b6 + c5 * d6 + a6 * b5 + c6 * d5 + a7 * b4 + c7 * d4 + a8 * b3 + c8 * d3 + a9 * b2 + c9 * d2 + a10 * b1 + c10 * d1
  cols[12] = a2 * b10 + c2 * d10 + a3 * b9 + c3 * d9 + a4 * b8 + c4 * d8 + a5 * b7 + c5 * d7 + a6 * b6 + c6 * d6 + a7 * b5 + c7 * d5 + a8 * b4 + c8 * d4 + a9 * b3 + c9 * d3 + a10 * b2 + c10 * d2
  cols[13] = a3 * b10 + c3 * d10 + a4 * b9 + c4 * d9 + a5 * b8 + c5 * d8 + a6 * b7 + c6 * d7 + a7 * b6 + c7 * d6 + a8 * b5 + c8 * d5 + a9 * b4 + c9 * d4 + a10 * b3 + c10 * d3
  cols[14] = a4 * b10 + c4 * d10 + a5 * b9 + c5 * d9 + a6 * b8 + c6 * d8 + a7 * b7 + c7 * d7 + a8 * b6 + c8 * d6 + a9 * b5 + c9 * d5 + a10 * b4 + c10 * d4
  cols[15] = a5 * b10 + c5 * d10 + a6 * b9 + c6 * d9 + a7 * b8 + c7 * d8 + a8 * b7 + c8 * d7 + a9 * b6 + c9 * d6 + a10 * b5 + c10 * d5
  cols[16] = a6 * b10 + c6 * d10 + a7 * b9 + c7 * d9 + a8 * b8 + c8 * d8 + a9 * b7 + c9 * d7 + a10 * b6 + c10 * d6
  cols[17] = a7 * b10 + c7 * d10 + a8 * b9 + c8 * d9 + a9 * b8 + c9 * d8 + a10 * b7 + c10 * d7
  cols[18] = a8 * b10 + c8 * d10 + a9 * b9 + c9 * d9 + a10 * b8 + c10 * d8
  cols[19] = a9 * b10 + c9 * d10 + a10 * b9 + c10 * d9
  cols[20] = a10 * b10 + c10 * d10
  reduce(o)
}

/** o = the columns in cols reduced mod p to 1 unit, with the carries in parallel passes rather than one chain of 36. */
function reduce(o: Fe): void {
  let t0 = cols[0]!,
    t1 = cols[1]!,
    t2 = cols[2]!,
    t3 = cols[3]!,
    t4 = cols[4]!,
    t5 = cols[5]!,
    t6 = cols[6]!,
    t7 = cols[7]!,
    t8 = cols[8]!,
    t9 = cols[9]!,
    t10 = cols[10]!
  const t11 = cols[11]!,
    t12 = cols[12]!,
    t13 = cols[13]!,
    t14 = cols[14]!,
    t15 = cols[15]!,
    t16 = cols[16]!,
    t17 = cols[17]!,
    t18 = cols[18]!,
    t19 = cols[19]!,
    t20 = cols[20]!
  // Carry the top columns (t10..t20) in parallel, then fold 2^264 ≡ 2^40 + 250112.
  const c10 = round(t10),
    c11 = round(t11),
    c12 = round(t12),
    c13 = round(t13),
    c14 = round(t14),
    c15 = round(t15),
    c16 = round(t16),
    c17 = round(t17),
    c18 = round(t18),
    c19 = round(t19),
    c20 = round(t20)
  t10 -= c10 * R
  const h11 = t11 - c11 * R + c10,
    h12 = t12 - c12 * R + c11,
    h13 = t13 - c13 * R + c12,
    h14 = t14 - c14 * R + c13,
    h15 = t15 - c15 * R + c14,
    h16 = t16 - c16 * R + c15,
    h17 = t17 - c17 * R + c16,
    h18 = t18 - c18 * R + c17,
    h19 = t19 - c19 * R + c18,
    h20 = t20 - c20 * R + c19
  t0 += h11 * K0
  t1 += h12 * K0 + h11 * K1
  t2 += h13 * K0 + h12 * K1
  t3 += h14 * K0 + h13 * K1
  t4 += h15 * K0 + h14 * K1
  t5 += h16 * K0 + h15 * K1
  t6 += h17 * K0 + h16 * K1
  t7 += h18 * K0 + h17 * K1
  t8 += h19 * K0 + h18 * K1
  t9 += h20 * K0 + h19 * K1
  t10 += c20 * K0 + h20 * K1
  // Carry t0..t10 in parallel; what leaves t10 (with the fold of c20) weighs 2^264 again.
  const e0 = round(t0),
    e1 = round(t1),
    e2 = round(t2),
    e3 = round(t3),
    e4 = round(t4),
    e5 = round(t5),
    e6 = round(t6),
    e7 = round(t7),
    e8 = round(t8),
    e9 = round(t9),
    e10 = round(t10)
  t0 -= e0 * R
  t1 += e0 - e1 * R
  t2 += e1 - e2 * R
  t3 += e2 - e3 * R
  t4 += e3 - e4 * R
  t5 += e4 - e5 * R
  t6 += e5 - e6 * R
  t7 += e6 - e7 * R
  t8 += e7 - e8 * R
  t9 += e8 - e9 * R
  t10 += e9 - e10 * R
  const w = c20 * K1 + e10,
    wh = round(w),
    wl = w - wh * R
  t0 += wl * K0
  t1 += wl * K1 + wh * K0
  t2 += wh * K1
  // A last parallel carry, the few bits above 2^264 folded once more, and t0..t2 carried in sequence.
  const f0 = round(t0),
    f1 = round(t1),
    f2 = round(t2),
    f3 = round(t3),
    f4 = round(t4),
    f5 = round(t5),
    f6 = round(t6),
    f7 = round(t7),
    f8 = round(t8),
    f9 = round(t9),
    f10 = round(t10)
  t0 += f10 * K0 - f0 * R
  t1 += f10 * K1 + f0 - f1 * R
  t2 += f1 - f2 * R
  t3 += f2 - f3 * R
  t4 += f3 - f4 * R
  t5 += f4 - f5 * R
  t6 += f5 - f6 * R
  t7 += f6 - f7 * R
  t8 += f7 - f8 * R
  t9 += f8 - f9 * R
  t10 += f9 - f10 * R
  let c = round(t0)
  t0 -= c * R
  t1 += c
  c = round(t1)
  t1 -= c * R
  t2 += c
  c = round(t2)
  t2 -= c * R
  t3 += c
  o[0] = t0
  o[1] = t1
  o[2] = t2
  o[3] = t3
  o[4] = t4
  o[5] = t5
  o[6] = t6
  o[7] = t7
  o[8] = t8
  o[9] = t9
  o[10] = t10
}

const trial = fe()

/** o = a reduced to its canonical value in [0, p), limbs in [0, 2^24). */
export function normalize(o: Fe, a: Fe): void {
  copy(o, a)
  // Carry with floor until nothing leaves limb 10 (each pass folds what did: 2^264 ≡ K1 * 2^24 + K0).
  for (let c = floorCarry(o); c !== 0; c = floorCarry(o)) {
    o[0] = o[0]! + c * K0
    o[1] = o[1]! + c * K1
  }
  // Now 0 <= o < 2^264: fold the bits above 2^256 (2^256 ≡ 2^32 + 977 = 256 * 2^24 + 977).
  for (let q = Math.floor(o[10]! / 65536); q !== 0; q = Math.floor(o[10] / 65536)) {
    o[10] = o[10]! - q * 65536
    o[0] = o[0]! + q * 977
    o[1] = o[1]! + q * 256
    floorCarry(o)
  }
  // Now 0 <= o < 2^256; o >= p exactly when o + 2^32 + 977 reaches 2^256.
  copy(trial, o)
  trial[0] = trial[0]! + 977
  trial[1] = trial[1]! + 256
  floorCarry(trial)
  if (trial[10]! >= 65536) {
    trial[10] = trial[10]! - 65536
    copy(o, trial)
  }
}

/** Carries every limb into [0, 2^24) and returns what left limb 10 (negative when o was). */
function floorCarry(o: Fe): number {
  let c = 0
  for (let i = 0; i < LIMBS; i++) {
    const x = o[i]! + c
    c = Math.floor(x * M)
    o[i] = x - c * R
  }
  return c
}

/** Where fromBytes, isZero and isOdd put the canonical value they look at. */
const canonical = fe()

export function isZero(a: Fe): boolean {
  normalize(canonical, a)
  for (let i = 0; i < LIMBS; i++) if (canonical[i] !== 0) return false
  return true
}

/** The parity of a's canonical value (the compressed point's prefix). */
export function isOdd(a: Fe): boolean {
  normalize(canonical, a)
  return (canonical[0]! & 1) === 1
}

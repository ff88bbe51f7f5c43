import { N } from './scalar.js'

/**
 * 1/s mod n by Bernstein and Yang's safegcd (2019), as libsecp256k1's variable-time modinv32 does
 * it, with 24 divsteps per batch on 24-bit limbs so that every product fits a double: ~10x faster
 * than BigInt's extended Euclid in V8 (its divisions dominate a check otherwise).
 *
 * Numbers are 11 limbs of 24 bits, the top one signed. Each batch runs 24 divsteps on the low
 * bits of f and g alone (int32 arithmetic), which gives a 2x2 matrix t; then [f, g] = t [f, g] /
 * 2^24 and [d, e] = t [d, e] / 2^24 mod n (adding the multiple of n that makes the division
 * exact). From f = n, g = s, d = 0, e = 1, g reaches 0 with f = ±1 and d = ±1/s.
 */
const LIMBS = 11
const RADIX = 2 ** 24
const MASK = RADIX - 1
const N_LIMBS = Float64Array.from({ length: LIMBS }, (_, i) => Number((N >> BigInt(24 * i)) & 0xffffffn))
/** n^-1 mod 2^24. */
const N_INV = Number(inverseMod2k(N, 24n))
/** -(2i + 1)^-1 mod 256: the multiple of f that clears g's low bits, 8 at a time. */
const NEG_INV256 = Uint8Array.from({ length: 128 }, (_, i) => (256 - Number(inverseMod2k(BigInt(2 * i + 1), 8n))) & 255)

function inverseMod2k(a: bigint, k: bigint): bigint {
  let x = 1n
  for (let i = 0; i < 8; i++) x = (x * (2n - a * x)) & ((1n << k) - 1n) // Newton: doubles the correct bits each round
  return x
}

const f = new Float64Array(LIMBS)
const g = new Float64Array(LIMBS)
const d = new Float64Array(LIMBS)
const e = new Float64Array(LIMBS)
/** The batch's transition matrix [u v; q r] (each below 2^24 in absolute value). */
const t = new Int32Array(4)

/** 1/s mod n for 0 < s < n, s given as 32 big-endian bytes at offset. */
export function invertScalar(bytes: Uint8Array, offset: number): bigint {
  for (let i = 0; i < 10; i++) {
    const at = offset + 31 - 3 * i
    g[i] = bytes[at]! | (bytes[at - 1]! << 8) | (bytes[at - 2]! << 16)
  }
  g[10] = bytes[offset + 1]! | (bytes[offset]! << 8)
  f.set(N_LIMBS)
  d.fill(0)
  e.fill(0)
  e[0] = 1
  let eta = -1
  let length = LIMBS
  for (;;) {
    eta = divsteps(eta, f[0]!, g[0]!)
    updateDe()
    updateFg(length)
    if (isZero(g, length)) break
    // Shorten f and g when their top limbs are only sign (0 or -1).
    const fn = f[length - 1]!
    const gn = g[length - 1]!
    if (length > 1 && (fn === 0 || fn === -1) && (gn === 0 || gn === -1)) {
      f[length - 2] = f[length - 2]! + fn * RADIX
      g[length - 2] = g[length - 2]! + gn * RADIX
      length--
    }
  }
  // d is in (-2n, n); the inverse is d or -d as f is 1 or -1.
  let x = BigInt(d[LIMBS - 1]!)
  for (let i = LIMBS - 2; i >= 0; i--) x = (x << 24n) + BigInt(d[i]!)
  if (f[length - 1]! < 0) x = -x
  while (x < 0n) x += N
  while (x >= N) x -= N
  return x
}

function isZero(x: Float64Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (x[i] !== 0) return false
  return true
}

/** 24 divsteps on the low bits of f and g (uint32 arithmetic, libsecp256k1's divsteps_30_var) into t; returns the new eta (= -delta). */
function divsteps(eta: number, f0: number, g0: number): number {
  let u = 1
  let v = 0
  let q = 0
  let r = 1
  let fl = f0 >>> 0
  let gl = g0 >>> 0
  for (let left = 24; ;) {
    // g even: its divsteps only halve it; a sentinel bit stops the count at `left`.
    const zeros = 31 - Math.clz32((gl | (-1 << left)) & -(gl | (-1 << left)))
    gl >>>= zeros
    u <<= zeros
    v <<= zeros
    eta -= zeros
    left -= zeros
    if (left === 0) {
      t[0] = u
      t[1] = v
      t[2] = q
      t[3] = r
      return eta
    }
    if (eta < 0) {
      // delta > 0 with g odd: the divstep swaps f and g (g negated); the cancelling below follows.
      eta = -eta
      const f1 = fl
      const u1 = u
      const v1 = v
      fl = gl
      gl = -f1 >>> 0
      u = q
      q = -u1
      v = r
      r = -v1
    }
    // Cancel up to min(eta + 1, left, 8) low bits of g with a multiple of f.
    const limit = Math.min(eta + 1, left)
    const mask = (0xffffffff >>> (32 - limit)) & 255
    const w = Math.imul(gl, NEG_INV256[(fl >>> 1) & 127]!) & mask
    gl = (gl + Math.imul(fl, w)) >>> 0
    q += u * w
    r += v * w
  }
}

/** [f, g] = t [f, g] / 2^24 (exact by construction), over their first length limbs. */
function updateFg(length: number): void {
  const u = t[0]!
  const v = t[1]!
  const q = t[2]!
  const r = t[3]!
  let cf = u * f[0]! + v * g[0]!
  let cg = q * f[0]! + r * g[0]!
  cf /= RADIX
  cg /= RADIX
  for (let i = 1; i < length; i++) {
    cf += u * f[i]! + v * g[i]!
    cg += q * f[i]! + r * g[i]!
    const hf = Math.floor(cf / RADIX)
    const hg = Math.floor(cg / RADIX)
    f[i - 1] = cf - hf * RADIX
    g[i - 1] = cg - hg * RADIX
    cf = hf
    cg = hg
  }
  f[length - 1] = cf
  g[length - 1] = cg
}

/** [d, e] = (t [d, e] + n [md, me]) / 2^24, md and me chosen to make it exact and keep d, e in (-2n, n). */
function updateDe(): void {
  const u = t[0]!
  const v = t[1]!
  const q = t[2]!
  const r = t[3]!
  const dNegative = d[LIMBS - 1]! < 0
  const eNegative = e[LIMBS - 1]! < 0
  let md = (dNegative ? u : 0) + (eNegative ? v : 0)
  let me = (dNegative ? q : 0) + (eNegative ? r : 0)
  let cd = u * d[0]! + v * e[0]!
  let ce = q * d[0]! + r * e[0]!
  md -= (Math.imul(N_INV, cd) + md) & MASK
  me -= (Math.imul(N_INV, ce) + me) & MASK
  cd = (cd + N_LIMBS[0]! * md) / RADIX
  ce = (ce + N_LIMBS[0]! * me) / RADIX
  for (let i = 1; i < LIMBS; i++) {
    cd += u * d[i]! + v * e[i]! + N_LIMBS[i]! * md
    ce += q * d[i]! + r * e[i]! + N_LIMBS[i]! * me
    const hd = Math.floor(cd / RADIX)
    const he = Math.floor(ce / RADIX)
    d[i - 1] = cd - hd * RADIX
    e[i - 1] = ce - he * RADIX
    cd = hd
    ce = he
  }
  d[LIMBS - 1] = cd
  e[LIMBS - 1] = ce
}

import { createECDH } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { loadAffine, readPublicKey } from '../../protocol/secp256k1/affine.js'
import { addColumn, buildComb, combBytes, combDigits } from '../../protocol/secp256k1/comb.js'
import { add, fe, feFromBigInt, fromBytes, isOdd, isZero, mul, mulAdd, mulSmall, neg, normalize, sqr, sub, type Fe } from '../../protocol/secp256k1/field.js'
import { invert, sqrt } from '../../protocol/secp256k1/field-pow.js'
import { gComb } from '../../protocol/secp256k1/g-table.js'
import { addAffine, addPoint, double, point, setInfinity, settle, type Point } from '../../protocol/secp256k1/point.js'
import { invertScalar } from '../../protocol/secp256k1/scalar-invert.js'
import { BETA, N, splitGlv } from '../../protocol/secp256k1/scalar.js'
import { wnaf } from '../../protocol/secp256k1/wnaf.js'

/**
 * The arithmetic under protocol/secp256k1 against BigInt (the field, scalars mod n) and OpenSSL
 * (points: node:crypto's ECDH computes k * P). Rerun one seed with SECP256K1_SEED=<seed>.
 */
const SEED = Number(process.env.SECP256K1_SEED ?? 0x5eed_5ec9)
const P = 2n ** 256n - 2n ** 32n - 977n
const LAMBDA = 0x5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72n
const mod = (x: bigint, m: bigint): bigint => ((x % m) + m) % m
const valueOf = (a: Fe): bigint => a.reduce((sum, limb, i) => sum + BigInt(limb) * 2n ** BigInt(24 * i), 0n)
const hex32 = (x: bigint): Buffer => Buffer.from(x.toString(16).padStart(64, '0'), 'hex')

function randomBig(random: SeededRandom, bits = 256): bigint {
  let x = 0n
  for (let i = 0; i < bits; i += 32) x = (x << 32n) | BigInt(random.uint32())
  return x & ((1n << BigInt(bits)) - 1n)
}

/** A field element whose limbs are as large as `units` (of 2^23) allows, of either sign or the extremes. */
function looseFe(random: SeededRandom, units: number): Fe {
  const o = fe()
  const shape = random.int(0, 3)
  for (let i = 0; i < 11; i++) {
    const sign = shape === 0 ? 1 : shape === 1 ? -1 : shape === 2 ? (i % 2 === 0 ? 1 : -1) : random.next() * 2 - 1
    o[i] = Math.trunc(sign * units * 2 ** 23)
  }
  return o
}

/** k * (x, y) by OpenSSL: ECDH's shared secret is the x-coordinate; for G, the public key gives y too. */
function opensslX(k: bigint, publicKey?: Buffer): bigint {
  const ecdh = createECDH('secp256k1')
  ecdh.setPrivateKey(hex32(k))
  return BigInt(`0x${(publicKey === undefined ? ecdh.getPublicKey().subarray(1, 33) : ecdh.computeSecret(publicKey)).toString('hex')}`)
}
function publicKeyOf(k: bigint, format: 'compressed' | 'uncompressed' = 'compressed'): Buffer {
  const ecdh = createECDH('secp256k1')
  ecdh.setPrivateKey(hex32(k))
  return ecdh.getPublicKey(null, format)
}
const big = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString('hex')}`)
function affineX(p: Point): bigint | null {
  const zinv = fe()
  if (isZero(p.z)) return null
  invert(zinv, p.z)
  const x = fe()
  mul(x, p.x, zinv)
  normalize(x, x)
  return valueOf(x)
}

describe('field: float limbs multiply exactly mod p within the unit bounds field.ts states', () => {
  it(`mul, mulAdd, sqr, add, sub, neg, mulSmall agree with BigInt, extremes of the bounds included (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED)
    const wrong: string[] = []
    let largest = 0
    const o = fe()
    const check = (name: string, i: number, got: Fe, expected: bigint): void => {
      if (mod(valueOf(got), P) !== mod(expected, P)) wrong.push(`${name} #${i}`)
    }
    for (let i = 0; i < 10_000; i++) {
      const ua = random.pick([1, 2, 3, 4, 5, 11])
      const a = looseFe(random, ua)
      const b = looseFe(random, Math.floor(11 / ua))
      const c = looseFe(random, 3)
      mul(o, a, b)
      check('mul', i, o, valueOf(a) * valueOf(b))
      largest = Math.max(largest, ...o.map(Math.abs))
      // mulAdd: two products whose units add up to 11 (field.ts's bound), the output aliasing an input.
      const [u1, u2, u3, u4] = random.pick([
        [1, 1, 2, 5],
        [3, 3, 1, 2],
        [3, 2, 5, 1],
        [2, 2, 7, 1],
        [1, 10, 1, 1],
        [2, 4, 3, 1],
        [3, 1, 4, 2],
        [1, 1, 1, 1],
      ] as const)
      const [m1, m2, m3, m4] = [looseFe(random, u1), looseFe(random, u2), looseFe(random, u3), looseFe(random, u4)]
      const sum = valueOf(m1) * valueOf(m2) + valueOf(m3) * valueOf(m4)
      mulAdd(m1, m1, m2, m3, m4)
      check('mulAdd', i, m1, sum)
      largest = Math.max(largest, ...m1.map(Math.abs))
      sqr(o, c)
      check('sqr', i, o, valueOf(c) ** 2n)
      mulSmall(o, c, 21)
      check('mulSmall', i, o, 21n * valueOf(c))
      largest = Math.max(largest, ...o.map(Math.abs))
      add(o, a, b)
      sub(o, o, c)
      neg(o, o)
      check('add/sub/neg', i, o, valueOf(c) - valueOf(a) - valueOf(b))
    }
    expect(wrong).toEqual([])
    expect(largest).toBeLessThanOrEqual(2 ** 23 + 2 ** 10) // 1 unit out
  })

  it('normalize gives the canonical value in [0, p) from any representative', () => {
    const cases = [0n, 1n, P - 1n, P, P + 1n, 2n ** 256n - 1n, 2n * P, 2n ** 263n + 12345n, 2n ** 264n - 1n]
    for (const x of cases) {
      const o = feFromBigInt(x)
      normalize(o, o)
      expect(valueOf(o)).toBe(mod(x, P))
      for (const limb of o) expect(limb >= 0 && limb < 2 ** 24).toBe(true)
      neg(o, feFromBigInt(x))
      normalize(o, o)
      expect(valueOf(o)).toBe(mod(-x, P))
    }
    expect(isZero(feFromBigInt(P))).toBe(true)
    expect(isOdd(feFromBigInt(P + 1n))).toBe(true)
  })

  it('fromBytes reads 32 big-endian bytes and refuses p or more', () => {
    const o = fe()
    for (const x of [0n, 1n, P - 1n, 0xabcdefn << 200n]) {
      expect(fromBytes(o, hex32(x), 0)).toBe(true)
      expect(valueOf(o)).toBe(x)
    }
    for (const x of [P, P + 1n, 2n ** 256n - 1n]) expect(fromBytes(o, hex32(x), 0)).toBe(false)
  })

  it(`invert and sqrt (exponentiation chains) agree with BigInt (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED + 1)
    const o = fe()
    let squares = 0
    for (let i = 0; i < 200; i++) {
      const x = i === 0 ? 1n : i === 1 ? P - 1n : mod(randomBig(random), P)
      invert(o, feFromBigInt(x))
      expect(mod(valueOf(o) * x, P)).toBe(1n)
      const rooted = sqrt(o, feFromBigInt(x))
      const legendre = x === 0n ? 1n : modPow(x, (P - 1n) / 2n, P)
      expect(rooted).toBe(legendre === 1n)
      if (rooted) {
        squares++
        expect(mod(valueOf(o) ** 2n, P)).toBe(x)
      }
    }
    expect(squares).toBeGreaterThan(50)
  })
})

function modPow(base: bigint, exponent: bigint, m: bigint): bigint {
  let result = 1n
  for (let b = mod(base, m), e = exponent; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) result = (result * b) % m
  return result
}

describe('scalars: safegcd inversion and the GLV split agree with BigInt', () => {
  it(`invertScalar(s) * s ≡ 1 (mod n), edges and random (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED + 2)
    const values = [1n, 2n, 3n, N - 1n, N - 2n, N >> 1n, 2n ** 128n, 2n ** 255n - 1n]
    for (let i = 0; i < 3_000; i++) values.push(mod(randomBig(random, random.int(1, 256)), N - 1n) + 1n)
    for (const s of values) expect((invertScalar(hex32(s), 0) * s) % N, `s = ${s}`).toBe(1n)
  })

  it(`splitGlv(k) = k1, k2 with k1 + k2 * lambda ≡ k and |k1|, |k2| < 2^128 (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED + 3)
    const values = [0n, 1n, N - 1n, LAMBDA, N - LAMBDA, 2n ** 128n, N >> 1n]
    for (let i = 0; i < 5_000; i++) values.push(mod(randomBig(random), N))
    for (const k of values) {
      const [k1, k2] = splitGlv(k)
      expect(mod(k1 + k2 * LAMBDA, N)).toBe(k)
      for (const half of [k1, k2]) expect(half < 2n ** 128n && half > -(2n ** 128n)).toBe(true)
    }
  })

  it('wnaf: digits are 0 or odd below 2^(w-1), one non-zero in any w, and sum to k', () => {
    const random = new SeededRandom(SEED + 4)
    const digits = new Int32Array(136)
    const wrong: string[] = []
    for (let i = 0; i < 2_000; i++) {
      const k = i === 0 ? 0n : i === 1 ? 2n ** 135n - 1n : randomBig(random, random.int(1, 135))
      const words = Uint32Array.from({ length: 5 }, (_, w) => Number((k >> BigInt(32 * w)) & 0xffffffffn))
      const top = wnaf(digits, words, 136, 5)
      if (digits.reduce((sum, d, at) => sum + BigInt(d) * 2n ** BigInt(at), 0n) !== k) wrong.push(`${k}: sum`)
      digits.forEach((d, at) => {
        if (d === 0) return
        if (Math.abs(d) % 2 !== 1 || Math.abs(d) >= 16 || at >= top || digits.subarray(at + 1, at + 5).some((next) => next !== 0)) wrong.push(`${k}: digit ${d} at ${at}`)
      })
    }
    expect(wrong).toEqual([])
  })
})

describe('points: complete formulas and combs compute what OpenSSL computes', () => {
  const G = publicKeyOf(1n)

  it(`readPublicKey: compressed and uncompressed keys to the curve's points; refuses points off the curve, coordinates >= p, other prefixes and lengths`, () => {
    const random = new SeededRandom(SEED + 5)
    const [x, y, x2, y2] = [fe(), fe(), fe(), fe()]
    for (let i = 0; i < 100; i++) {
      const d = mod(randomBig(random), N - 1n) + 1n
      const [key, full] = [publicKeyOf(d), publicKeyOf(d, 'uncompressed')]
      expect(readPublicKey(x, y, key)).toBe(true)
      normalize(x, x)
      normalize(y, y)
      expect(hex32(valueOf(x)).equals(key.subarray(1))).toBe(true)
      expect(hex32(valueOf(y)).equals(full.subarray(33))).toBe(true)
      expect(readPublicKey(x2, y2, full)).toBe(true)
      sub(x2, x2, x)
      sub(y2, y2, y)
      expect(isZero(x2) && isZero(y2)).toBe(true)
      expect(readPublicKey(x, y, Buffer.concat([Buffer.from([4]), key.subarray(1)]))).toBe(false)
      expect(readPublicKey(x, y, Buffer.concat([Buffer.from([random.pick([2, 3, 6, 7])]), full.subarray(1)]))).toBe(false)
      expect(readPublicKey(x, y, key.subarray(0, 32))).toBe(false)
      expect(readPublicKey(x, y, full.subarray(0, 64))).toBe(false)
      const offCurve = Buffer.from(full)
      offCurve[64] = offCurve[64]! ^ 1
      expect(readPublicKey(x, y, offCurve)).toBe(false)
      // y + p: the same residue, but not a field element's encoding (p + y < 2^256 only for small y: take y's low bits).
      expect(readPublicKey(x, y, Buffer.concat([full.subarray(0, 33), hex32(P + (big(full.subarray(33)) % 2n ** 32n))]))).toBe(false)
    }
    // x = 5: 5^3 + 7 = 132 is not a square mod p; p + 1 is not a field element.
    expect(readPublicKey(x, y, Buffer.concat([Buffer.from([2]), hex32(5n)]))).toBe(false)
    expect(readPublicKey(x, y, Buffer.concat([Buffer.from([2]), hex32(P + 1n)]))).toBe(false)
  })

  it('addAffine, addPoint and double handle doubling, negation and infinity (complete formulas)', () => {
    const [gx, gy] = [fe(), fe()]
    readPublicKey(gx, gy, G)
    const g = point()
    setInfinity(g)
    addAffine(g, g, gx, gy) // O + G
    expect(affineX(g)).toBe(opensslX(1n))
    const twice = point()
    double(twice, g)
    expect(affineX(twice)).toBe(opensslX(2n))
    addAffine(g, g, gx, gy) // G + G
    expect(affineX(g)).toBe(opensslX(2n))
    settle(twice)
    addPoint(g, g, twice) // 2G + 2G
    expect(affineX(g)).toBe(opensslX(4n))
    const minusG = fe()
    neg(minusG, gy)
    const zero = point()
    setInfinity(zero)
    addAffine(zero, zero, gx, gy)
    addAffine(zero, zero, gx, minusG) // G - G
    expect(affineX(zero)).toBe(null)
    double(zero, zero)
    expect(affineX(zero)).toBe(null)
    const inf = point()
    setInfinity(inf)
    settle(inf)
    addPoint(g, g, inf) // 4G + O
    expect(affineX(g)).toBe(opensslX(4n))
  })

  it(`addAffine, addPoint and double on random points with random Z: sums, doublings through an addition, P + (-P) and infinity on either side (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED + 7)
    /** k * G as a projective point with a random Z (so the formulas see other than Z = 1), and its affine x, y. */
    const scaled = (k: bigint): { p: Point; x: Fe; y: Fe } => {
      const [x, y] = [fe(), fe()]
      expect(readPublicKey(x, y, publicKeyOf(k))).toBe(true)
      const p = point()
      const z = feFromBigInt(mod(randomBig(random), P - 1n) + 1n)
      mul(p.x, x, z)
      mul(p.y, y, z)
      p.z.set(z)
      return { p, x, y }
    }
    const copyOf = (a: Point): Point => {
      const o = point()
      for (const c of ['x', 'y', 'z'] as const) o[c].set(a[c])
      return o
    }
    const infinity = (): Point => {
      const o = point()
      setInfinity(o)
      return o
    }
    const o = point()
    for (let i = 0; i < 25; i++) {
      const k1 = mod(randomBig(random), N - 1n) + 1n
      const k2 = random.bool(0.2) ? k1 : mod(randomBig(random), N - 1n) + 1n
      const a = scaled(k1)
      const b = scaled(k2)
      const minusB = fe()
      neg(minusB, b.y)
      const bNeg = copyOf(b.p)
      neg(bNeg.y, bNeg.y)
      const sum = mod(k1 + k2, N)
      const label = `#${i} (seed ${SEED + 7})`
      double(o, a.p)
      expect(affineX(o), `${label} 2P`).toBe(opensslX(mod(2n * k1, N)))
      addAffine(o, a.p, b.x, b.y)
      expect(affineX(o), `${label} P + Q affine`).toBe(sum === 0n ? null : opensslX(sum))
      addPoint(o, a.p, b.p)
      expect(affineX(o), `${label} P + Q`).toBe(sum === 0n ? null : opensslX(sum))
      addAffine(o, a.p, a.x, a.y)
      expect(affineX(o), `${label} P + P affine`).toBe(opensslX(mod(2n * k1, N)))
      addPoint(o, a.p, copyOf(a.p))
      expect(affineX(o), `${label} P + P`).toBe(opensslX(mod(2n * k1, N)))
      addAffine(o, b.p, b.x, minusB)
      expect(affineX(o), `${label} Q - Q affine`).toBe(null)
      addPoint(o, b.p, bNeg)
      expect(affineX(o), `${label} Q - Q`).toBe(null)
      addPoint(o, infinity(), a.p)
      expect(affineX(o), `${label} O + P`).toBe(opensslX(k1))
      addPoint(o, a.p, infinity())
      expect(affineX(o), `${label} P + O`).toBe(opensslX(k1))
      addAffine(o, infinity(), a.x, a.y)
      expect(affineX(o), `${label} O + P affine`).toBe(opensslX(k1))
      addPoint(o, infinity(), infinity())
      expect(affineX(o), `${label} O + O`).toBe(null)
      double(o, infinity())
      expect(affineX(o), `${label} 2 O`).toBe(null)
    }
  })

  it(`combs: k * P for odd k, on G's comb and on a key's comb with and without beta (lambda * P) (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED + 6)
    const d = mod(randomBig(random), N - 1n) + 1n
    const key = publicKeyOf(d)
    const [x, y] = [fe(), fe()]
    readPublicKey(x, y, key)
    const comb = buildComb(x, y, 8, 17)
    expect(comb.table.byteLength).toBe(combBytes(8))
    expect(gComb().table.byteLength).toBe(combBytes(16))
    const beta = feFromBigInt(BETA)
    const words = new Uint32Array(8)
    const acc = point()
    for (let i = 0; i < 40; i++) {
      const k = (randomBig(random, i < 20 ? 135 : 256) % N) | 1n
      for (const [c, endo, expected] of [
        [gComb(), false, () => opensslX(k)],
        [comb, false, () => opensslX(k, key)],
        [comb, true, () => opensslX(mod(k * LAMBDA, N), key)],
      ] as const) {
        if (c === comb && k >= 2n ** 136n) continue
        combDigits(k, c, words)
        setInfinity(acc)
        for (let s = c.spacing - 1; s >= 0; s--) {
          double(acc, acc)
          addColumn(acc, c, words, s, false, endo ? beta : null)
        }
        expect(affineX(acc)).toBe(expected())
      }
    }
    // Every stored point is on the curve.
    const [px, py, lhs, rhs] = [fe(), fe(), fe(), fe()]
    for (let i = 0; i < 128; i++) {
      loadAffine(px, py, comb.table, i, false)
      sqr(lhs, py)
      sqr(rhs, px)
      mul(rhs, rhs, px)
      rhs[0] = rhs[0]! + 7
      sub(lhs, lhs, rhs)
      expect(isZero(lhs)).toBe(true)
    }
  })
})

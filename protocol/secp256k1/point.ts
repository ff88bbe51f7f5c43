import { add, fe, mul, mulAdd, mulSmall, neg, sub, type Fe } from './field.js'

/**
 * Points in projective coordinates (X : Y : Z), x = X/Z, y = Y/Z, with the complete formulas of
 * Renes, Costello and Batina (2015, algorithms 7-9 for a = 0): they are correct for every pair of
 * inputs, doubling and the point at infinity (0 : 1 : 0) included, so no input a signer crafts
 * can reach an exceptional case. They cost what Jacobian formulas cost here (a squaring is no
 * cheaper than a multiplication in field.ts), and their outputs are sums of two products, each
 * taken with one carry pass (mulAdd): 7 carry passes a doubling, 9 an addition, instead of 8
 * and 12. Coordinates stay within 2 units (field.ts); [n] comments give a value's units where a
 * multiplication needs them.
 */
export interface Point {
  readonly x: Fe
  readonly y: Fe
  readonly z: Fe
}

/** 3b for y^2 = x^3 + 7. */
const B3 = 21

export function point(): Point {
  return { x: fe(), y: fe(), z: fe() }
}

export function setInfinity(p: Point): void {
  p.x.fill(0)
  p.y.fill(0)
  p.y[0] = 1
  p.z.fill(0)
}

const t0 = fe()
const t1 = fe()
const t2 = fe()
const t3 = fe()
const t4 = fe()
const t5 = fe()

/** o = 2a (o may be a). */
export function double(o: Point, a: Point): void {
  mul(t0, a.y, a.y)
  mul(t3, a.x, a.y)
  mul(t1, a.y, a.z)
  mul(t2, a.z, a.z) // a's coordinates are read: o may be a from here on
  mulSmall(t2, t2, B3)
  mulSmall(t4, t0, 8)
  mul(o.z, t1, t4)
  add(t5, t0, t2) // [2]
  mulSmall(t1, t2, 3)
  sub(t0, t0, t1) // [2]
  mulAdd(o.y, t0, t5, t2, t4) // Y3 = (y^2 - 9b z^2)(y^2 + 3b z^2) + 3b z^2 * 8y^2
  mul(o.x, t0, t3)
  add(o.x, o.x, o.x)
}

/** o = a + (x2, y2), an affine point of 1 unit that is not infinity (o may be a; x2, y2 may not be o's). */
export function addAffine(o: Point, a: Point, x2: Fe, y2: Fe): void {
  const { x: x1, y: y1, z: z1 } = a
  mul(t0, x1, x2)
  mul(t1, y1, y2)
  add(t3, x2, y2)
  add(t4, x1, y1) // [4]
  mul(t3, t3, t4)
  add(t4, t0, t1)
  sub(t3, t3, t4) // [3]
  mul(t4, y2, z1)
  add(t4, t4, y1) // [3]
  mul(o.y, x2, z1) // y1 is read: o.y may be y1
  add(o.y, o.y, x1) // [3]
  mulSmall(t0, t0, 3) // x1 is read (o.x may be x1)
  mulSmall(t2, z1, B3)
  add(o.z, t1, t2) // z1 is read
  sub(t1, t1, t2) // [2]
  finishAdd(o)
}

/** o = a + b, b of 1 unit (o may be a, not b). */
export function addPoint(o: Point, a: Point, b: Point): void {
  const { x: x1, y: y1, z: z1 } = a
  const { x: x2, y: y2, z: z2 } = b
  mul(t0, x1, x2)
  mul(t1, y1, y2)
  mul(t2, z1, z2)
  add(t3, x1, y1)
  add(t4, x2, y2)
  mul(t3, t3, t4)
  add(t4, t0, t1)
  sub(t3, t3, t4) // [3]
  add(t4, y1, z1)
  add(t5, y2, z2)
  mul(t4, t4, t5)
  add(t5, t1, t2)
  sub(t4, t4, t5) // [3]
  add(t5, x1, z1)
  add(o.y, x2, z2) // a and b are read: o may be a from here on
  mul(t5, t5, o.y)
  add(o.y, t0, t2)
  sub(o.y, t5, o.y) // [3]
  mulSmall(t0, t0, 3)
  mulSmall(t2, t2, B3)
  add(o.z, t1, t2)
  sub(t1, t1, t2) // [2]
  finishAdd(o)
}

/**
 * The last step both additions share: from t0 [1], t1 [2], t3 [3], t4 [3], o.y [3] and o.z [2],
 * X3 = t3 t1 - t4 Y, Y3 = Y t0 + t1 Z and Z3 = Z t4 + t0 t3 (Y = 3b o.y, Z = o.z), each one mulAdd.
 */
function finishAdd(o: Point): void {
  mulSmall(o.y, o.y, B3)
  neg(t2, t4)
  mulAdd(o.x, t3, t1, t2, o.y)
  mulAdd(o.y, o.y, t0, t1, o.z)
  mulAdd(o.z, o.z, t4, t0, t3)
}

/** Brings each coordinate to 1 unit (a point that will be addPoint's b). */
export function settle(p: Point): void {
  mulSmall(p.x, p.x, 1)
  mulSmall(p.y, p.y, 1)
  mulSmall(p.z, p.z, 1)
}

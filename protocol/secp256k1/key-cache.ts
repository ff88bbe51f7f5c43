import { LruCache } from '../../common/lru-cache.js'
import { AFFINE_LIMBS, loadAffine, readPublicKey } from './affine.js'
import { buildComb, combBytes, type Comb } from './comb.js'
import { fe } from './field.js'
import { Q_SPACING, Q_TEETH } from './multiply.js'

/**
 * Public keys as verify.ts needs them: the point of each key seen recently (so a returning
 * compressed key skips its square root, ~270 field multiplications) and, for the keys that sign
 * often, a comb (multiply.ts: a check in half the time; building one costs 2-3 cold checks).
 *
 * Bounded: at most maxKnownKeys points (~0.5 KB each) and maxHotKeys combs (HOT_KEY_BYTES each),
 * each set evicting its least recently used entry when full. A key becomes hot at its hotAfter-th
 * check among the known keys; an evicted comb is rebuilt only after hotAfter checks more.
 */
export interface KeyCacheOptions {
  /** Build a key's comb at its hotAfter-th check (1: at the first; Infinity: never). */
  hotAfter: number
  maxHotKeys: number
  maxKnownKeys: number
}

export const DEFAULT_KEY_CACHE: KeyCacheOptions = { hotAfter: 3, maxHotKeys: 4096, maxKnownKeys: 16_384 }

/** What a hot key holds: its comb's table, and ~0.7 KB of point, objects, map entry and key string (bench/secp256k1.ts measures it). */
export const HOT_KEY_BYTES = combBytes(Q_TEETH) + 700

/** A key ready to check with: its affine point (1 unit) and its comb when hot. x and y hold until the next get. */
export interface ReadyKey {
  readonly x: Float64Array
  readonly y: Float64Array
  readonly comb: Comb | null
}

/** point: the key's affine point as a one-point table (affine.ts). */
interface KnownKey {
  readonly point: Int32Array
  uses: number
}
interface HotKey {
  readonly point: Int32Array
  readonly comb: Comb
}

export class KeyCache {
  private readonly known: LruCache<string, KnownKey>
  private readonly hot: LruCache<string, HotKey>
  private readonly x = fe()
  private readonly y = fe()
  readonly counts = { keysRead: 0, combsBuilt: 0 }

  constructor(private readonly options: KeyCacheOptions) {
    this.known = new LruCache(options.maxKnownKeys)
    this.hot = new LruCache(options.maxHotKeys)
  }

  /** The key of a SEC1 public key (readPublicKey); null when it is not a point of the curve. */
  get(publicKey: Uint8Array): ReadyKey | null {
    const { x, y } = this
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1')
    const hot = this.hot.get(id)
    if (hot !== undefined) {
      loadAffine(x, y, hot.point, 0, false)
      return { x, y, comb: hot.comb }
    }
    let known = this.known.get(id)
    if (known === undefined) {
      if (!readPublicKey(x, y, publicKey)) return null
      this.counts.keysRead++
      const point = new Int32Array(AFFINE_LIMBS)
      point.set(x)
      point.set(y, AFFINE_LIMBS / 2)
      known = { point, uses: 0 }
      this.known.set(id, known, Infinity)
    } else loadAffine(x, y, known.point, 0, false)
    if (++known.uses < this.options.hotAfter) return { x, y, comb: null }
    const comb = buildComb(x, y, Q_TEETH, Q_SPACING)
    this.counts.combsBuilt++
    this.known.delete(id)
    this.hot.set(id, { point: known.point, comb }, Infinity)
    return { x, y, comb }
  }
}

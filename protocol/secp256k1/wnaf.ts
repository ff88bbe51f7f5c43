/**
 * Width-w NAF of a scalar (libsecp256k1's ecmult_wnaf): digits that are 0 or odd in
 * (-2^(w-1), 2^(w-1)), at most one non-zero in any w consecutive, so k * P costs one doubling per
 * bit and an addition of a precomputed odd multiple of P every w + 1 bits on average. For keys
 * without a comb (verify.ts: cold keys).
 */

const bits = (words: Uint32Array, from: number, count: number): number => {
  let value = 0
  for (let i = count - 1; i >= 0; i--) {
    const at = from + i
    value = (value << 1) | ((words[at >>> 5]! >>> (at & 31)) & 1)
  }
  return value
}

/**
 * Fills digits[0..length) with the wNAF of k (k < 2^(length - 1), in words least significant
 * first); returns one more than the highest non-zero digit's position (0 for k = 0).
 */
export function wnaf(digits: Int32Array, words: Uint32Array, length: number, w: number): number {
  digits.fill(0, 0, length)
  let top = 0
  let carry = 0
  for (let bit = 0; bit < length;) {
    if (((words[bit >>> 5]! >>> (bit & 31)) & 1) === carry) {
      bit++
      continue
    }
    const now = Math.min(w, length - bit)
    let word = bits(words, bit, now) + carry
    carry = (word >> (w - 1)) & 1
    word -= carry << w
    digits[bit] = word
    top = bit + 1
    bit += now
  }
  return top
}

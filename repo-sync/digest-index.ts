/** Slots start at this many, and the table doubles past 3/4 full. */
const INITIAL_SLOTS = 1024
const WORDS = 4

/**
 * A hash table from a block's SHA-256 digest to a number (where the block is), in typed arrays:
 * the first 128 bits of the digest (16 bytes) and the number (8) per slot, the table between
 * 3/8 and 3/4 full (it doubles past 3/4), so 32 to 64 bytes a block and no object per block for
 * the GC to walk (a Map keyed by CID strings costs ~120 bytes a block, measured). 128 bits: finding two blocks
 * that share them is 2^64 hashing work, out of reach of a hostile PDS. Open addressing, linear
 * probing from the first word (digest bits are uniform). A number of 0 marks an empty slot,
 * so 0 cannot be stored.
 */
export class DigestIndex {
  private words = new Uint32Array(INITIAL_SLOTS * WORDS)
  private values = new Float64Array(INITIAL_SLOTS)
  private mask = INITIAL_SLOTS - 1
  private count = 0

  get size(): number {
    return this.count
  }

  /** The memory the table takes. */
  get byteLength(): number {
    return this.words.byteLength + this.values.byteLength
  }

  /** The number stored for the digest at digest[at, at + 16), or undefined. */
  get(digest: Uint8Array, at = 0): number | undefined {
    const slot = this.find(digest, at)
    const value = this.values[slot]!
    return value === 0 ? undefined : value
  }

  /** Stores `value` (not 0) for the digest unless it is there already; true when it was added. */
  add(digest: Uint8Array, at: number, value: number): boolean {
    if (value === 0) throw new RangeError('0 marks an empty slot and cannot be stored')
    if ((this.count + 1) * 4 > this.values.length * 3) this.grow()
    const slot = this.find(digest, at)
    if (this.values[slot] !== 0) return false
    for (let i = 0; i < WORDS; i++) this.words[slot * WORDS + i] = word(digest, at + 4 * i)
    this.values[slot] = value
    this.count++
    return true
  }

  /** Empties the table and gives its memory back. */
  clear(): void {
    this.words = new Uint32Array(INITIAL_SLOTS * WORDS)
    this.values = new Float64Array(INITIAL_SLOTS)
    this.mask = INITIAL_SLOTS - 1
    this.count = 0
  }

  private find(digest: Uint8Array, at: number): number {
    return this.findWords(word(digest, at), word(digest, at + 4), word(digest, at + 8), word(digest, at + 12))
  }

  private grow(): void {
    const { words, values } = this
    this.words = new Uint32Array(words.length * 2)
    this.values = new Float64Array(values.length * 2)
    this.mask = this.values.length - 1
    for (let slot = 0; slot < values.length; slot++) {
      if (values[slot] === 0) continue
      const target = this.findWords(words[slot * WORDS]!, words[slot * WORDS + 1]!, words[slot * WORDS + 2]!, words[slot * WORDS + 3]!)
      this.words.set(words.subarray(slot * WORDS, slot * WORDS + WORDS), target * WORDS)
      this.values[target] = values[slot]!
    }
  }

  /** The slot holding the digest's words, or the empty slot where they would go. */
  private findWords(w0: number, w1: number, w2: number, w3: number): number {
    for (let slot = w0 & this.mask; ; slot = (slot + 1) & this.mask) {
      if (this.values[slot] === 0) return slot
      const base = slot * WORDS
      if (this.words[base] === w0 && this.words[base + 1] === w1 && this.words[base + 2] === w2 && this.words[base + 3] === w3) return slot
    }
  }
}

/** Four bytes of the digest as an unsigned 32-bit number (big-endian). */
function word(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
}

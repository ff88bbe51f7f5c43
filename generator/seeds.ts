import { SeededRandom } from '../common/random.js'

/**
 * An independent random stream for (seed, label, index), so that per-account data (keys,
 * pre-existing records) does not depend on how many draws other parts of the plan made.
 */
export function streamFor(seed: number, label: string, index = 0): SeededRandom {
  let h = (seed ^ 0x9e3779b9) >>> 0
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0
  h = Math.imul(h ^ index, 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return new SeededRandom((h ^ (h >>> 16)) >>> 0)
}

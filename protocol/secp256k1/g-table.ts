import { buildComb, combBytes, type Comb } from './comb.js'
import { feFromBigInt } from './field.js'

/**
 * The comb of the generator G, shared by every check in this thread: 16 teeth, spacing 16, so
 * u1 * G costs 16 mixed additions and no doubling of its own (the chain's last 16 doublings).
 * 2^15 affine points, 2.9 MB (G_COMB_BYTES); built at the first check (~0.25 s of CPU, measured)
 * rather than at import, so that a process that never verifies never pays for it.
 */
const G_TEETH = 16
const G_SPACING = 16
export const G_COMB_BYTES = combBytes(G_TEETH)

const GX = 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n
const GY = 0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n

let comb: Comb | null = null

export function gComb(): Comb {
  comb ??= buildComb(feFromBigInt(GX), feFromBigInt(GY), G_TEETH, G_SPACING)
  return comb
}

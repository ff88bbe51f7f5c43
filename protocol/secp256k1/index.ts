// secp256k1 ECDSA verification with per-key precomputation: verify.ts says how and what it costs.
export { Secp256k1Verifier, type Secp256k1Options } from './verify.js'
export { DEFAULT_KEY_CACHE, HOT_KEY_BYTES } from './key-cache.js'
export { G_COMB_BYTES } from './g-table.js'

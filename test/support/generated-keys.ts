import { createIdentity } from '../../generator/identity.js'
import type { FixtureManifest } from '../../fixture-file/index.js'

/**
 * The signing keys of a generated fixture's accounts (ReplayOptions.signingKeys): the generator
 * derives account i's identity from the seed its manifest meta records, for i below `accounts`.
 */
export function generatedSigningKeys(manifest: FixtureManifest): (did: string) => Uint8Array | undefined {
  const { seed, accounts } = manifest.meta ?? {}
  if (typeof seed !== 'number' || typeof accounts !== 'number') throw new Error('not a generated fixture: its manifest meta has no seed and accounts')
  const keys = new Map(Array.from({ length: accounts }, (_, i) => createIdentity(seed, i)).map((identity) => [identity.did, identity.privateKey]))
  return (did) => keys.get(did)
}

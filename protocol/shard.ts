/**
 * Which of `shards` streams an event of repo `did` goes to: FNV-1a (32-bit) over the DID's
 * UTF-8 bytes, modulo the shard count. Pure and stable: consumers and checkers compute the same
 * shard, and one repo's events always land in one stream (per-repo order is kept). DIDs are
 * ASCII, so the string's char codes are its UTF-8 bytes. Events without a DID (#info) go to shard 0.
 */
export function shardOfDid(did: string | null, shards: number): number {
  if (shards <= 1 || did === null) return 0
  let hash = 0x811c9dc5
  for (let i = 0; i < did.length; i++) {
    hash ^= did.charCodeAt(i) & 0xff
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % shards
}

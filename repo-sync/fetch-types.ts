/**
 * What fetching a repository with com.atproto.sync.getRepo gives (repo-fetcher.ts), for a resync
 * now and a backfill later. docs/repo-sync.md, "Fetching a repository".
 */

/** One record of the repo: its path split at the first `/`, its CID (base32) and its DAG-CBOR bytes, checked against the CID. */
export interface RepoRecord {
  collection: string
  rkey: string
  cid: string
  bytes: Uint8Array
}

export interface FetchRepoOptions {
  /**
   * Ask this server instead of the DID's PDS (`--resync-from`: a relay or mirror serving getRepo;
   * `<source>/xrpc/com.atproto.sync.getRepo`). Configuration, so its address is not checked.
   */
  source?: URL
  /** Also check the commit's signature against the DID's #atproto key (`--verify`). */
  verify?: boolean
  signal?: AbortSignal
}

/** What the fetch cost and found. */
export interface FetchStats {
  /** The getRepo URL asked. */
  url: string
  /** CAR bytes received. */
  bytes: number
  /** Distinct blocks in the CAR. */
  blocks: number
  /** MST nodes walked. */
  nodes: number
  records: number
  /** Block bytes that went to the spill file (0 when the repo fit the memory budget). */
  spilledBytes: number
  /** Memory the repo's blocks take while it is open: the in-memory blocks' slabs (at most memoryBytes), the index (32-64 bytes a block), the spill write batch. */
  heldBytes: number
  /** The signature was checked (FetchRepoOptions.verify). */
  verified: boolean
}

/**
 * A repository fetched and checked: by the time fetchRepo resolves, the whole CAR has arrived,
 * every block hashed to its CID, the root is a v3 commit for the DID (signed by its key with
 * `verify`), and the MST walked from `data` with every node and record present. Its records then
 * stream out of records() in MST order (sorted by path) from memory or the spill file; no check
 * is left that could fail halfway, only a local read of the spill file (REPO_SYNC_SPILL).
 */
export interface FetchedRepo {
  readonly did: string
  /** The commit block's CID (the CAR's root), base32. */
  readonly commitCid: string
  /** The commit's rev (a TID). */
  readonly rev: string
  /** The commit's MST root CID, base32. */
  readonly data: string
  readonly stats: FetchStats
  /** The records in MST order; iterable once, and closes the repo at its end (or when the loop stops early). */
  records(): AsyncIterable<RepoRecord>
  /** Frees the blocks and the spill file; idempotent. Call it when records() is not read to its end. */
  close(): Promise<void>
}

/**
 * A DID's resolution as the shared cache keeps it: the #atproto key as its multibase multikey
 * (the document's own form: parsed again on read, so the stored form outlives changes to
 * SigningKey), or why the DID has none; when it was fetched and until when it may be used.
 */
export interface StoredDidKey {
  did: string
  found: { kind: 'key'; multikey: string } | { kind: 'unresolved'; reason: string }
  fetchedAtMs: number
  expiresAtMs: number
}

/** Where the shared DID cache lives (redis-did-key-store.ts); the tests' and benches' too. */
export interface DidKeyStore {
  /** The stored entries of `dids`, in order; null where none (expired ones too: the caller checks expiresAtMs with its clock). */
  read(dids: readonly string[]): Promise<(StoredDidKey | null)[]>
  /** Stores `entries` (replacing) and deletes `forget`, keeping the store within its bound; `nowMs` decides what has expired. */
  write(entries: readonly StoredDidKey[], forget: readonly string[], nowMs: number): Promise<void>
}

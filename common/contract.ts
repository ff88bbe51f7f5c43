/**
 * The stream contract's names and the defaults every part starts from (README, "The stream
 * contract"): written once here, imported by the ingestor, the consumer, the CLI and the harness.
 * Sharded or on a cluster these are the base names; common/key-layout.ts derives each shard's.
 */

/** The stream the workers read. */
export const DEFAULT_STREAM = 'firehose:events'

/** The workers' consumer group (created with MKSTREAM when missing). */
export const DEFAULT_GROUP = 'firehose-processors'

/** The seq of the last event written, set in the same atomic script as the entries. */
export const DEFAULT_CURSOR_KEY = 'firehose:cursor'

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'

/** The relay `firehose ingest` reads without --relay: a host, as the --relay flag takes it. */
export const DEFAULT_RELAY_HOST = 'bsky.network'

/** Where backfill lists repos without --list-from (listRepos on the default relay). */
export const DEFAULT_LIST_FROM = `https://${DEFAULT_RELAY_HOST}`

/** Where the ingestor quarantines frames it cannot decode: `<stream>:dead`. */
export function deadLetterStreamOf(stream: string): string {
  return `${stream}:dead`
}

/** Where the consumer puts entries its handler keeps failing on, or that break the contract: `<stream>:dead-consumer`. */
export function consumerDeadLetterStreamOf(stream: string): string {
  return `${stream}:dead-consumer`
}

/** The `--ha` lease: `<cursorKey>:lease`. */
export function leaseKeyOf(cursorKey: string): string {
  return `${cursorKey}:lease`
}

/**
 * Per-repo sync state (docs/repo-sync.md): a hash `<stream>:repos`, DID -> the stored form of
 * repo-sync/repo-state-codec.ts, written in the same script as the entries and the cursor.
 */
export function repoStateKeyOf(stream: string): string {
  return `${stream}:repos`
}

/**
 * The shared DID key cache of --verify (docs/verify.md): a hash `<stream>:did-keys`, DID -> the
 * resolved key as JSON, and its sorted set `<stream>:did-keys:expiry`, DID -> when it expires.
 */
export function didKeyCacheKeysOf(stream: string): { entries: string; expiry: string } {
  return { entries: `${stream}:did-keys`, expiry: `${stream}:did-keys:expiry` }
}

/**
 * Repo snapshots being written (docs/repo-sync.md): a hash `<stream>:snapshots`, DID -> the open
 * snapshot's progress (JSON); also `<did>#held#<n>` -> an event held while the repo resyncs that
 * did not fit in memory (ingestor/resync-queue.ts).
 */
export function snapshotProgressKeyOf(stream: string): string {
  return `${stream}:snapshots`
}

/**
 * A backfill's listing (docs/backfill.md): a hash `<stream>:backfill` whose field `listing` holds
 * where `firehose backfill` stands (JSON). The repos it asked for and its counters live in the
 * shards' snapshot progress hashes, where the ingestor's writes end them.
 */
export function backfillKeyOf(stream: string): string {
  return `${stream}:backfill`
}

/**
 * Repos a backfill listed whose account was not active then (docs/backfill.md): a hash
 * `<stream>:backfill-inactive`, DID -> the status the listing gave, one per shard beside
 * `<stream>:snapshots`. The ingestor asks for one once its stored state says active again.
 */
export function backfillInactiveKeyOf(stream: string): string {
  return `${stream}:backfill-inactive`
}

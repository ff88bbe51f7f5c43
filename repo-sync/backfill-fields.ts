/**
 * Backfill's fields in a shard's snapshot progress hash (`<stream>:snapshots`, beside the open
 * snapshots and the spilled held events), so that the ingestor's write that ends a repo's
 * snapshot also ends its backfill, in one script (docs/backfill.md, "What is stored").
 * Counter fields start with `#`: never a DID, never matching a marker's `*#backfill`.
 */

/** The field that says a repo is asked for by a backfill: `queued`, or why its last fetch failed (BackfillFailure JSON). */
export function backfillMarkerField(did: string): string {
  return `${did}#backfill`
}

/** Every marker of a shard (HSCAN MATCH). */
export const BACKFILL_MARKER_PATTERN = '*#backfill'

/** A marker's value until a fetch of the repo fails. */
export const BACKFILL_QUEUED = 'queued'

/** The DID a marker field names; null for any other field. */
export function didOfBackfillMarker(field: string): string | null {
  return field.endsWith('#backfill') && field.startsWith('did:') ? field.slice(0, -'#backfill'.length) : null
}

/**
 * The shard's counters, each with one writer: repos listed and of them those listed as inactive
 * (the lister, with their markers); done, failing and the records of those done (the ingestor's
 * writes that end or fail a snapshot, compare-and-set); reactivated (the ingestor's script that
 * turns an inactive repo whose account is active again into a queued marker).
 */
export const BACKFILL_COUNTERS = {
  listed: '#backfill:listed',
  inactive: '#backfill:inactive',
  done: '#backfill:done',
  failing: '#backfill:failing',
  reactivated: '#backfill:reactivated',
  records: '#backfill:records',
  /** The listing page this shard took last (its markers and `listed` in the same script): a page listed again after a crash is not counted twice. */
  page: '#backfill:page',
} as const

/** Why a backfilled repo's last fetch failed, as its marker holds it. */
export interface BackfillFailure {
  code: string
  message: string
  /** Failed fetches in a row. */
  attempts: number
  /** When it failed (ms since the epoch). */
  atMs: number
}

export type BackfillMarker = { kind: 'queued' } | ({ kind: 'failing' } & BackfillFailure)

/** A marker's value read back; null for a value this code did not write. */
export function parseBackfillMarker(value: string): BackfillMarker | null {
  if (value === BACKFILL_QUEUED) return { kind: 'queued' }
  try {
    const parsed = JSON.parse(value) as Partial<BackfillFailure>
    if (typeof parsed.code !== 'string' || typeof parsed.message !== 'string' || typeof parsed.attempts !== 'number' || typeof parsed.atMs !== 'number') return null
    return { kind: 'failing', code: parsed.code, message: parsed.message, attempts: parsed.attempts, atMs: parsed.atMs }
  } catch {
    return null
  }
}

/** A counter field's value as a number (absent: 0). */
export function counterValue(value: string | null | undefined): number {
  const n = value === null || value === undefined ? 0 : Number(value)
  return Number.isSafeInteger(n) && n >= 0 ? n : 0
}

/** A backfill's counters, summed over the shards (docs/backfill.md, "What is stored"). */
export interface BackfillCounts {
  /** Repos asked for. */
  listed: number
  /** Of them, those the listing named not active (taken down, deactivated...): fetched once active again. */
  inactive: number
  /** Of them, those whose snapshot ended. */
  done: number
  /** Of them, those whose last fetch failed (retried by the ingestor with backoff). */
  failing: number
  /** Of the inactive ones, those queued since because their account was active again. */
  reactivated: number
  /** Records in the snapshots that ended. */
  records: number
}

/** The counter fields a shard's counts are read from (HMGET), in BackfillCounts' order. */
export const BACKFILL_COUNT_FIELDS = [BACKFILL_COUNTERS.listed, BACKFILL_COUNTERS.inactive, BACKFILL_COUNTERS.done, BACKFILL_COUNTERS.failing, BACKFILL_COUNTERS.reactivated, BACKFILL_COUNTERS.records] as const

/** The shards' HMGET answers of BACKFILL_COUNT_FIELDS, summed. */
export function sumBackfillCounts(shards: readonly (readonly (string | null)[])[]): BackfillCounts {
  const total: BackfillCounts = { listed: 0, inactive: 0, done: 0, failing: 0, reactivated: 0, records: 0 }
  const names = ['listed', 'inactive', 'done', 'failing', 'reactivated', 'records'] as const
  for (const values of shards) names.forEach((name, i) => (total[name] += counterValue(values[i])))
  return total
}

/** Repos asked for that the ingestor has yet to fetch: neither done, failing nor inactive (waiting for their account to be active again). */
export function outstanding(counts: BackfillCounts): number {
  return Math.max(0, counts.listed - counts.done - counts.failing - inactiveWaiting(counts))
}

/** Repos listed as inactive and not queued since: fetched if their account is active again. */
export function inactiveWaiting(counts: BackfillCounts): number {
  return Math.max(0, counts.inactive - counts.reactivated)
}

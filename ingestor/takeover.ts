import type { RedisClient } from '../common/redis-client.js'
import type { Logger } from '../common/logger.js'
import { IngestorError, IngestorErrorCode } from './errors.js'
import { parseStoredCursor } from './stored-cursor.js'

/** Entries read per XREVRANGE while counting what the legacy consumer wrote past its cursor. */
const COUNT_PAGE = 1000
/** The legacy consumer stored its cursor every ~5 s: its drift is thousands of entries, not millions. */
const COUNT_LIMIT = 1_000_000

/** Where a run starts when it takes over from the consumer it replaces (--legacy-cursor-key). */
export interface TakeoverPlan {
  /** The seq to resume after. */
  start: number
  /** The legacy cursor key's value (null: none stored). */
  legacyCursor: number | null
  /** Entries already in the stream past the position we would have resumed from, not written again. */
  skippedEntries: number
}

/**
 * The start of a run that takes over from the legacy consumer, or null when there is nothing to
 * take over. The position is our own stored cursor or, before our first write, the legacy
 * consumer's; the legacy consumer wrote entries up to ~5 s past its stored cursor, so when the
 * stream's newest entry has a higher seq the run starts after it: nothing is written twice,
 * nothing skipped that is not already there (docs/invariants.md I22). Our own writes never leave
 * the stream past the cursor (I3), so this only ever moves past another consumer's entries.
 */
export async function planTakeover(redis: RedisClient, stream: string, legacyCursorKey: string, stored: number | null): Promise<TakeoverPlan | null> {
  const legacyCursor = parseStoredCursor((await redis.get(legacyCursorKey)) ?? '', legacyCursorKey)
  const base = stored ?? legacyCursor
  const tail = await newestSeq(redis, stream)
  if (tail === null || (base !== null && tail <= base)) return base === null ? null : { start: base, legacyCursor, skippedEntries: 0 }
  return { start: tail, legacyCursor, skippedEntries: await entriesAfter(redis, stream, base) }
}

/** One line for the log: where the run starts and what it did not write again. */
export function logTakeover(logger: Logger, plan: TakeoverPlan, stored: number | null, legacyCursorKey: string): void {
  const from = stored ?? plan.legacyCursor
  logger.info(
    { legacyCursorKey, legacyCursor: plan.legacyCursor, storedCursor: stored, start: plan.start, skippedEntries: plan.skippedEntries },
    plan.skippedEntries === 0
      ? `takeover: resuming after seq ${plan.start} (${stored === null ? 'the legacy cursor' : 'our cursor'}); nothing past it in the stream`
      : `takeover: the stream already holds ${plan.skippedEntries} entries past seq ${from ?? 'none'} (written by the consumer we replace after it stored its cursor): resuming after seq ${plan.start}, none written again`,
  )
}

/** The `seq` field of the stream's newest entry (null: no stream, no entry, or no integer seq). */
async function newestSeq(redis: RedisClient, stream: string): Promise<number | null> {
  const [newest] = await redis.xrevrange(stream, '+', '-', 'COUNT', 1)
  return newest === undefined ? null : seqOf(newest[1])
}

/** Entries whose seq is above `after` (all of them when null), counted from the newest back, at most COUNT_LIMIT. */
async function entriesAfter(redis: RedisClient, stream: string, after: number | null): Promise<number> {
  let count = 0
  let end = '+'
  for (;;) {
    const page = await redis.xrevrange(stream, end, '-', 'COUNT', COUNT_PAGE)
    for (const [, fields] of page) {
      const seq = seqOf(fields)
      if (after !== null && seq !== null && seq <= after) return count
      count++
    }
    if (page.length < COUNT_PAGE || count >= COUNT_LIMIT) return count
    end = `(${page[page.length - 1]![0]}`
  }
}

/** An entry's `seq`, by name (the contract's fields; legacy entries have the same names). */
function seqOf(fields: readonly string[]): number | null {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'seq') continue
    const seq = Number(fields[i + 1])
    if (!Number.isSafeInteger(seq) || seq < 0)
      throw new IngestorError(IngestorErrorCode.BadStoredCursor, `the stream's newest entry has seq ${JSON.stringify(fields[i + 1])}, not a seq: the ingestor will not guess where to start`, { raw: fields[i + 1] })
    return seq
  }
  return null
}

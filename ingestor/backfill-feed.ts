import type { Logger } from '../common/logger.js'
import type { TimerHandle, Timers } from '../common/timers.js'
import { didOfBackfillMarker, parseBackfillMarker, sumBackfillCounts, type BackfillCounts } from '../repo-sync/backfill-fields.js'
import type { ResyncQueue } from './resync-queue.js'

/** One HSCAN page of a shard's hash: the next cursor ('0' at the end) and the fields with their values. */
export interface HashPage {
  next: string
  fields: [string, string][]
}

export interface BackfillFeedParts {
  queue: Pick<ResyncQueue, 'request' | 'whenRoom'>
  /** The worker resyncs this repo now (asking again would start a second resync of it). */
  isResyncing: (did: string) => boolean
  /** A page of the shard's backfill markers (`<stream>:snapshots`, matching `*#backfill`). */
  markers: (shard: number, cursor: string) => Promise<HashPage>
  /** A page of the shard's inactive hash (`<stream>:backfill-inactive`: DID -> status). */
  inactive: (shard: number, cursor: string) => Promise<HashPage>
  /** Whether each repo's stored state says its account is active (false when none is stored). */
  activeNow: (shard: number, dids: readonly string[]) => Promise<boolean[]>
  /** Moves these inactive repos to queued markers (backfill-activate.ts); the DIDs it moved. */
  activate: (shard: number, dids: readonly string[]) => Promise<string[]>
  /** The shard's backfill counters (HMGET of BACKFILL_COUNT_FIELDS). */
  readCounts: (shard: number) => Promise<(string | null)[]>
  shards: number
  timers: Timers
  /** Between two passes over the markers (default 1 s). */
  pollMs?: number
  /** Between two passes over the inactive repos (default 60 s). */
  inactivePollMs?: number
  logger: Logger
}

const POLL_MS = 1_000
const INACTIVE_POLL_MS = 60_000

/**
 * Feeds the resync queue with the repos a backfill asks for (`firehose backfill` writes them,
 * docs/backfill.md): a pass over every shard's markers, one HSCAN page at a time and no faster
 * than the queue drains (whenRoom), then a pause of `pollMs`; `queued` markers are asked for (a
 * failing one's repo is desynchronized: its retry timer, a sweep or its reactivation brings it
 * back). Every `inactivePollMs`, a pass over the repos listed as inactive: those whose stored
 * state now says active (an `#account` the ingestor wrote) become queued. Nothing here is state:
 * a marker stays until the write that ends its repo's snapshot deletes it, so a pass missed (a
 * crash, Redis away) is made up by the next one.
 */
export class BackfillFeed {
  private stopped = false
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private timer: TimerHandle | null = null
  private lastCounts: BackfillCounts | null = null

  constructor(private readonly parts: BackfillFeedParts) {}

  /** The backfill's counters as the last pass read them; null before, or while no backfill asked for anything. */
  get counts(): BackfillCounts | null {
    return this.lastCounts
  }

  start(): void {
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== null) this.parts.timers.clearTimeout(this.timer)
    this.wake?.()
    await this.loop
  }

  private async run(): Promise<void> {
    const { timers, logger } = this.parts
    let inactiveAtMs = timers.now()
    while (!this.stopped) {
      const warn = (what: string) => (err: unknown) => logger.warn({ err: { message: (err as Error).message } }, `could not read the ${what}; trying again`)
      await this.pass(this.parts.markers, (shard, fields) => this.queued(fields)).catch(warn('backfill markers'))
      await this.readCounts().catch(warn('backfill counters'))
      if (!this.stopped && timers.now() >= inactiveAtMs) {
        await this.pass(this.parts.inactive, (shard, fields) => this.reactivated(shard, fields)).catch(warn('repos a backfill listed as inactive'))
        inactiveAtMs = timers.now() + (this.parts.inactivePollMs ?? INACTIVE_POLL_MS)
      }
      if (this.stopped) return
      await new Promise<void>((resolve) => {
        this.wake = resolve
        this.timer = timers.setTimeout(resolve, this.parts.pollMs ?? POLL_MS)
      })
    }
  }

  /** Every shard's pages of one hash, each handed to `visit` once the queue has room. */
  private async pass(page: (shard: number, cursor: string) => Promise<HashPage>, visit: (shard: number, fields: [string, string][]) => Promise<void>): Promise<void> {
    for (let shard = 0; shard < this.parts.shards && !this.stopped; shard++) {
      let cursor = '0'
      do {
        await this.parts.queue.whenRoom()
        if (this.stopped) return
        const { next, fields } = await page(shard, cursor)
        await visit(shard, fields)
        cursor = next
      } while (cursor !== '0' && !this.stopped)
    }
  }

  private async readCounts(): Promise<void> {
    const shards: (string | null)[][] = []
    for (let shard = 0; shard < this.parts.shards; shard++) shards.push(await this.parts.readCounts(shard))
    const counts = sumBackfillCounts(shards)
    this.lastCounts = counts.listed === 0 ? null : counts
  }

  private async queued(fields: [string, string][]): Promise<void> {
    for (const [field, value] of fields) {
      const did = didOfBackfillMarker(field)
      if (did !== null && parseBackfillMarker(value)?.kind === 'queued' && !this.parts.isResyncing(did)) this.parts.queue.request(did)
    }
  }

  private async reactivated(shard: number, fields: [string, string][]): Promise<void> {
    const dids = fields.map(([did]) => did)
    if (dids.length === 0) return
    const active = await this.parts.activeNow(shard, dids)
    const now = dids.filter((_, i) => active[i] === true)
    if (now.length === 0) return
    for (const did of await this.parts.activate(shard, now)) this.parts.queue.request(did)
  }
}

import type { Logger } from '../common/logger.js'
import type { TimerHandle, Timers } from '../common/timers.js'
import { BACKFILL_MARKER_PATTERN, didOfBackfillMarker, parseBackfillMarker } from '../repo-sync/backfill-fields.js'
import type { ResyncQueue } from './resync-queue.js'

/** One HSCAN page of a shard's snapshot progress hash: the next cursor ('0' at the end) and the matching fields with their values. */
export type MarkerPage = (shard: number, cursor: string, pattern: string) => Promise<{ next: string; fields: [string, string][] }>

export interface BackfillFeedParts {
  queue: Pick<ResyncQueue, 'request' | 'whenRoom'>
  /** The worker resyncs this repo now (asking again would start a second resync of it). */
  isResyncing: (did: string) => boolean
  scan: MarkerPage
  /** Whether each repo's stored state says its account is active (false when none is stored). */
  activeNow: (shard: number, dids: readonly string[]) => Promise<boolean[]>
  shards: number
  timers: Timers
  /** Between two passes over the markers (default 1 s). */
  pollMs?: number
  logger: Logger
}

const POLL_MS = 1_000

/**
 * Feeds the resync queue with the repos a backfill asks for (`firehose backfill` writes their
 * markers, docs/backfill.md): a pass over every shard's markers, one HSCAN page at a time and no
 * faster than the queue drains (whenRoom), then a pause of `pollMs`. Only `queued` markers are
 * asked for: a failing one's repo is desynchronized, so its retry timer or a sweep brings it back.
 * Nothing here is state: a marker stays until the write that ends its repo's snapshot deletes
 * it, so a pass missed (a crash, Redis away) is made up by the next one.
 */
export class BackfillFeed {
  private stopped = false
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private timer: TimerHandle | null = null

  constructor(private readonly parts: BackfillFeedParts) {}

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
    while (!this.stopped) {
      await this.pass().catch((err: unknown) => this.parts.logger.warn({ err: { message: (err as Error).message } }, 'could not read the backfill markers; trying again'))
      if (this.stopped) return
      await new Promise<void>((resolve) => {
        this.wake = resolve
        this.timer = this.parts.timers.setTimeout(resolve, this.parts.pollMs ?? POLL_MS)
      })
    }
  }

  /** One pass: every queued marker of every shard asked for. */
  private async pass(): Promise<void> {
    const { queue, scan, shards, isResyncing } = this.parts
    for (let shard = 0; shard < shards && !this.stopped; shard++) {
      let cursor = '0'
      do {
        await queue.whenRoom()
        if (this.stopped) return
        const page = await scan(shard, cursor, BACKFILL_MARKER_PATTERN)
        const inactive: string[] = []
        for (const [field, value] of page.fields) {
          const did = didOfBackfillMarker(field)
          if (did === null || isResyncing(did)) continue
          const kind = parseBackfillMarker(value)?.kind
          if (kind === 'queued') queue.request(did)
          else if (kind === 'inactive') inactive.push(did)
        }
        if (inactive.length > 0) {
          const active = await this.parts.activeNow(shard, inactive)
          inactive.forEach((did, i) => {
            if (active[i] === true) queue.request(did)
          })
        }
        cursor = page.next
      } while (cursor !== '0' && !this.stopped)
    }
  }
}

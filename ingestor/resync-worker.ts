import { randomBytes } from 'node:crypto'
import type { Logger } from '../common/logger.js'
import type { TimerHandle, Timers } from '../common/timers.js'
import { snapshotBeginEntry, snapshotEndEntry, snapshotPartEntry, type SnapshotHead } from '../protocol/snapshot-entry.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
import { RepoSyncError, RepoSyncErrorCode } from '../repo-sync/errors.js'
import type { FetchedRepo, FetchRepoOptions, RepoRecord } from '../repo-sync/fetch-types.js'
import { BACKFILL_COUNTERS, backfillMarkerField, counterValue, parseBackfillMarker, type BackfillFailure } from '../repo-sync/backfill-fields.js'
import { afterResyncFailed, afterSnapshot, startBackfill, startResync } from '../repo-sync/rules.js'
import { snapshotParts, type SnapshotPartLimits } from '../repo-sync/snapshot-parts.js'
import type { RepoState } from '../repo-sync/types.js'
import type { FieldUpdate, RepoWriteOutcome, RepoWriter } from './repo-write.js'
import { decodeSpilled, isSpillFieldOf, spillPattern, type ResyncQueue } from './resync-queue.js'
import type { CrashPoints } from './crash-points.js'
import type { EventFilter } from './event-filter.js'
import type { IngestorCounters } from './status.js'

/** An open snapshot's progress as `<stream>:snapshots` holds it (JSON): its head and what is written so far. */
export interface SnapshotProgress extends SnapshotHead {
  parts: number
  records: number
}

export interface ResyncWorkerParts {
  queue: ResyncQueue
  writer: RepoWriter
  fetcher: { fetchRepo(did: string, options?: FetchRepoOptions): Promise<FetchedRepo> }
  /** When a repo that failed may be fetched again (repo-sync/repo-backoff.ts); null: now. */
  retryAtMs: (did: string) => number | null
  /** Every DID whose stored state is not synchronized, shard by shard (an HSCAN of the state hashes). */
  sweep: (visit: (did: string) => Promise<void>, stopped: () => boolean) => Promise<void>
  fetchOptions: Pick<FetchRepoOptions, 'source' | 'verify'>
  concurrency: number
  /** Repos waiting out a failed fetch's backoff with a timer each, at most (default 100,000); past it they wait for a sweep. */
  maxScheduledRetries?: number
  partLimits?: Partial<SnapshotPartLimits>
  /** `--collections`: a snapshot publishes only the records the live path would (null: all). */
  filter: Pick<EventFilter, 'keepsPath'> | null
  counters: IngestorCounters
  logger: Logger
  timers: Timers
  crash: CrashPoints
}

/** getRepo's refusals that name the account's status (the lexicon's errors). */
const REFUSAL_STATUS: Readonly<Record<string, string>> = {
  [RepoSyncErrorCode.Deactivated]: 'deactivated',
  [RepoSyncErrorCode.Takendown]: 'takendown',
  [RepoSyncErrorCode.Suspended]: 'suspended',
}

/** The soonest a failed repo is tried again when its error names no time (the fetcher's backoff then decides). */
const MIN_RETRY_MS = 5_000
const MAX_SCHEDULED_RETRIES = 100_000

/**
 * Resyncs desynchronized repos (docs/repo-sync.md, "Resync"): `concurrency` at a time, each in
 * steps written through the pipeline's write order (RepoWriter), so a step is atomic with its
 * entries and compare-and-set against the state the rest of the stream left:
 * 1. desynchronized -> resyncing (an open snapshot of an earlier run is ended `complete: false`);
 *    from now on the repo's live events are held;
 * 2. getRepo, checked (repo-sync/repo-fetcher.ts); a failure: back to desynchronized, what was held
 *    dropped (the next snapshot is fetched after it), retried after the repo's backoff;
 * 3. the snapshot: begin, record parts, each with its progress in the same script;
 * 4. end + the repo's new state + the held events the rules now publish, in one script.
 * A step that finds the repo changed (another writer, Redis lost writes) stops; the repo is asked
 * for again, and the next attempt starts from what Redis holds.
 */
export class ResyncWorker {
  private stopped = false
  private readonly abort = new AbortController()
  private readonly retries = new Map<string, TimerHandle>()
  private loops: Promise<void>[] = []
  private readonly resyncing = new Set<string>()

  constructor(private readonly parts: ResyncWorkerParts) {}

  /** Repos being resynced now. */
  get active(): number {
    return this.resyncing.size
  }

  /** Whether `did` is being resynced now. */
  isResyncing(did: string): boolean {
    return this.resyncing.has(did)
  }

  get retriesScheduled(): number {
    return this.retries.size
  }

  /** Starts the workers and a sweep for repos an earlier run left desynchronized or resyncing. */
  start(): void {
    this.parts.queue.requestSweep()
    this.loops = [...Array.from({ length: this.parts.concurrency }, () => this.work()), this.sweeps()]
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.abort.abort()
    for (const timer of this.retries.values()) this.parts.timers.clearTimeout(timer)
    this.retries.clear()
    this.parts.queue.wake()
    await Promise.all(this.loops)
  }

  private async work(): Promise<void> {
    const { queue, logger } = this.parts
    while (!this.stopped) {
      const did = queue.take()
      if (did === null) {
        await queue.whenWork()
        continue
      }
      const retryAt = this.parts.retryAtMs(did)
      if (retryAt !== null) {
        this.retryAt(did, retryAt)
        continue
      }
      this.resyncing.add(did)
      await this.resync(did)
        .catch((err: unknown) => {
          if (!this.stopped) logger.error({ did, err }, 'resync failed unexpectedly; the repo is tried again')
          this.retryAt(did, this.parts.timers.now() + MIN_RETRY_MS)
        })
        .finally(() => this.resyncing.delete(did))
    }
  }

  private async sweeps(): Promise<void> {
    const { queue, logger } = this.parts
    while (!this.stopped) {
      await queue.whenSweep()
      if (this.stopped) return
      if (!queue.needsSweep) continue // woken by other work
      queue.sweepDone()
      let found = 0
      await this.parts
        .sweep(
          async (did) => {
            found++
            await queue.whenRoom()
            queue.request(did)
          },
          () => this.stopped,
        )
        .catch((err: unknown) => {
          logger.warn({ err: { message: (err as Error).message } }, 'could not scan the per-repo states for repos to resync; trying again later')
          this.retryAt(null, this.parts.timers.now() + MIN_RETRY_MS)
        })
      if (found > 0) logger.info({ repos: found }, 'found repos waiting for a resync in Redis')
    }
  }

  /**
   * Asks for the repo again at `atMs` (null: a sweep). Bounded: past maxScheduledRetries repos with
   * a timer, a repo gets none; its state in Redis stays desynchronized, and one sweep timer (at
   * the first such repo's time) finds it and the others there.
   */
  private retryAt(repo: string | null, atMs: number): void {
    if (this.stopped) return
    const full = repo !== null && !this.retries.has(repo) && this.retries.size >= (this.parts.maxScheduledRetries ?? MAX_SCHEDULED_RETRIES)
    const did = full ? null : repo
    const key = did ?? ''
    if (this.retries.has(key)) return
    const timer = this.parts.timers.setTimeout(
      () => {
        this.retries.delete(key)
        if (did === null) this.parts.queue.requestSweep()
        else this.parts.queue.request(did)
      },
      Math.max(0, atMs - this.parts.timers.now()),
    )
    this.retries.set(key, timer)
  }

  private async resync(did: string): Promise<void> {
    const { counters, writer, timers } = this.parts
    // 1. desynchronized -> resyncing; a repo a backfill asks for (its marker) from any state, but
    // one the stream already holds whole, whose backfill ends here with nothing to publish.
    const marker = backfillMarkerField(did)
    let backfill = false
    let alreadyWhole = false
    const begun = await writer.writeRepo(
      did,
      ({ repo, progress, seq, fields }) => {
        const state = repo.state
        const markerValue = fields.get(marker) ?? null
        backfill = markerValue !== null
        if (!backfill && (state === null || state.sync === 'synchronized')) return null
        alreadyWhole = backfill && state?.sync === 'synchronized' && state.whole === true
        if (alreadyWhole) return { entries: [], fieldUpdates: backfillEnded(did, markerValue, 0, fields) }
        // Held events an earlier run spilled are covered by this resync's fetch, which comes after them.
        const known = new Set(this.parts.queue.spilledFields(did))
        const leftovers = [...fields].flatMap(([field, value]) => (value !== null && isSpillFieldOf(did, field) && !known.has(field) ? [{ field, expected: value, next: '' }] : []))
        const next = backfill ? startBackfill(state) : state!.sync === 'resyncing' ? state! : startResync(state!)
        return { entries: abandoned(progress, seq, timers.now()), state: next, progress: null, fieldUpdates: leftovers }
      },
      { named: () => BACKFILL_END_FIELDS(did), matching: spillPattern(did) },
    )
    if (begun === 'skipped') return void this.parts.queue.release(did)
    if (begun !== 'applied') return this.again(did, begun)
    if (alreadyWhole) {
      this.parts.queue.release(did)
      counters.backfillReposDone++
      return
    }
    counters.resyncsStarted++
    // 2. getRepo.
    let fetched: FetchedRepo
    try {
      fetched = await this.parts.fetcher.fetchRepo(did, { ...this.parts.fetchOptions, signal: this.abort.signal })
    } catch (err) {
      return this.failed(did, err)
    }
    try {
      await this.publish(did, fetched, backfill)
    } catch (err) {
      // A record that does not decode, a spill file that cannot be read, a rev that is not a TID: the repo is bad now, tried again later.
      await this.failed(did, err)
    } finally {
      await fetched.close()
    }
  }

  /** 3 and 4: the snapshot, then the repo's state and its held events. */
  /** `whole`: a backfill, published even at the stored rev. */
  private async publish(did: string, fetched: FetchedRepo, whole: boolean): Promise<void> {
    const { counters, writer, timers, queue } = this.parts
    const head: SnapshotHead = { did, id: `${fetched.rev}:${randomBytes(4).toString('hex')}`, rev: fetched.rev, data: fetched.data, commit: fetched.commitCid }
    const time = (): string => new Date(timers.now()).toISOString()
    let kind: 'published' | 'unchanged' | 'stale' = 'published'
    const progress: SnapshotProgress = { ...head, parts: 0, records: 0 }
    const step = (outcome: RepoWriteOutcome, what: string): boolean => {
      this.parts.logger.debug({ did, step: what, outcome }, 'resync step')
      if (outcome === 'applied') return true
      this.again(did, outcome)
      return false
    }
    const begun = await writer.writeRepo(did, ({ repo, seq }) => {
      if (repo.state?.sync !== 'resyncing') return null
      kind = afterSnapshot(repo.state, head, [], timers.now(), whole).snapshot
      return kind === 'published' ? { entries: [snapshotBeginEntry(head, seq, time())], progress: JSON.stringify(progress) } : { entries: [] }
    })
    if (!step(begun, 'begin')) return
    if (kind === 'published') {
      for await (const ops of snapshotParts(kept(fetched.records(), this.parts.filter), this.parts.partLimits)) {
        if (this.stopped) return
        const written = await writer.writeRepo(did, ({ repo, progress: stored, seq }) => {
          if (repo.state?.sync !== 'resyncing' || stored !== JSON.stringify(progress)) return null
          const next: SnapshotProgress = { ...progress, parts: progress.parts + 1, records: progress.records + ops.length }
          return { entries: [snapshotPartEntry(head, progress.parts, ops, seq, time())], progress: JSON.stringify(next) }
        })
        if (!step(written, 'part')) return
        progress.parts++
        progress.records += ops.length
        counters.snapshotRecords += ops.length
        this.parts.crash.hit('mid-snapshot')
      }
    }
    let again = false
    let backfilled: string | null = null
    const ended = await writer.writeRepo(
      did,
      ({ repo, progress: stored, seq, fields }) => {
        if (repo.state?.sync !== 'resyncing' || (kind === 'published' && stored !== JSON.stringify(progress))) return null
        const holding = queue.release(did)
        // Memory first, then the spilled ones in their order (a field a lost write never made is missing: the relay sent its event again).
        const spilled = holding.spilled.flatMap((field) => {
          const value = fields.get(field) ?? null
          return value === null ? [] : [{ field, value, event: decodeSpilled(value) }]
        })
        const events = [...holding.events, ...spilled.flatMap(({ event }) => (event === null ? [] : [event]))]
        const outcome = afterSnapshot(
          repo.state,
          head,
          events.map((event) => event.facts),
          timers.now(),
          whole,
        )
        const entries: StreamEntry[] = kind === 'published' ? [snapshotEndEntry(head, { records: progress.records, parts: progress.parts, complete: true }, seq, time())] : []
        outcome.held.forEach(({ verdict }, i) => {
          const event = events[i]!
          if (verdict.kind === 'covered') counters.repoHeldCovered++
          else if (verdict.kind === 'publish') {
            counters.repoHeldReleased++
            if (event.entry !== null) entries.push(event.entry)
          } else counters.repoHeldDropped++
        })
        let state: RepoState = outcome.state
        // Held events were dropped at the bound (or a spilled one does not read): this snapshot cannot be the end of the story.
        if ((holding.overflowed || spilled.some(({ event }) => event === null)) && state.sync === 'synchronized') state = { ...state, sync: 'desynchronized' }
        again = state.sync !== 'synchronized'
        // Only a published snapshot ends a backfill: an unchanged or stale one published no records (the marker stays; the next pass asks again).
        backfilled = kind === 'published' ? (fields.get(backfillMarkerField(did)) ?? null) : null
        const updates = [...spilled.map(({ field, value }) => ({ field, expected: value, next: '' })), ...backfillEnded(did, backfilled, progress.records, fields)]
        return { entries, state, progress: null, fieldUpdates: updates }
      },
      { named: () => [...queue.spilledFields(did), ...BACKFILL_END_FIELDS(did)] },
    )
    if (!step(ended, 'end')) return
    counters.resyncsSucceeded++
    if (backfilled !== null) {
      counters.backfillReposDone++
      counters.backfillRecords += progress.records
    }
    if (again) this.parts.queue.request(did)
  }

  /** The fetch failed: back to desynchronized, held events dropped, the repo tried again after its backoff. */
  private async failed(did: string, err: unknown): Promise<void> {
    const { counters, writer, queue, logger, timers } = this.parts
    if (this.stopped) return
    counters.resyncsFailed++
    const code = err instanceof RepoSyncError ? err.code : 'UNEXPECTED'
    logger.warn({ did, code, err: { message: (err as Error).message } }, 'resync failed: the repo stays desynchronized and is tried again')
    const failure = { code, message: (err as Error).message, atMs: timers.now() }
    const outcome = await writer.writeRepo(
      did,
      ({ repo, fields }) => {
        if (repo.state?.sync !== 'resyncing') return null
        const holding = queue.release(did)
        counters.repoHeldDropped += holding.events.length + holding.spilled.length
        const spilled = holding.spilled.flatMap((field) => {
          const value = fields.get(field) ?? null
          return value === null ? [] : [{ field, expected: value, next: '' }]
        })
        const state = afterResyncFailed(repo.state, []).state
        // The PDS says the account is not active: stored, so the #account that reactivates it starts the next resync (repo-plan.ts).
        const status = REFUSAL_STATUS[code] ?? state.status
        return { entries: [], state: { ...state, status }, fieldUpdates: [...spilled, ...backfillFailed(did, failure, fields)] }
      },
      { named: () => [...queue.spilledFields(did), backfillMarkerField(did), BACKFILL_COUNTERS.failing] },
    )
    if (outcome === 'resync') return this.again(did, outcome)
    const retryAtMs = err instanceof RepoSyncError ? err.fields.retryAtMs : undefined
    this.retryAt(did, retryAtMs ?? this.parts.retryAtMs(did) ?? timers.now() + MIN_RETRY_MS)
  }

  /** A step found Redis other than believed (the pipeline resynced) or the ingestor stops: ask for the repo again. */
  private again(did: string, outcome: RepoWriteOutcome): void {
    if (outcome === 'abandoned' || this.stopped) return
    this.parts.queue.request(did)
  }
}

/** The fields a snapshot's end reads to end the repo's backfill, if one asked for it. */
const BACKFILL_END_FIELDS = (did: string): string[] => [backfillMarkerField(did), BACKFILL_COUNTERS.done, BACKFILL_COUNTERS.records, BACKFILL_COUNTERS.failing]

/** A backfilled repo's snapshot ended: its marker goes, the shard's counters move, in the same script (docs/backfill.md). */
function backfillEnded(did: string, marker: string | null, records: number, fields: Map<string, string | null>): FieldUpdate[] {
  if (marker === null) return []
  const count = (field: string, by: number): FieldUpdate => {
    const stored = fields.get(field) ?? null
    return { field, expected: stored ?? '', next: String(counterValue(stored) + by) }
  }
  const updates = [{ field: backfillMarkerField(did), expected: marker, next: '' }, count(BACKFILL_COUNTERS.done, 1), count(BACKFILL_COUNTERS.records, records)]
  if (parseBackfillMarker(marker)?.kind === 'failing') updates.push(count(BACKFILL_COUNTERS.failing, -1))
  return updates
}

/** A backfilled repo's fetch failed: its marker says why (`firehose backfill --status` lists it); the first failure counts it as failing. */
function backfillFailed(did: string, failure: Omit<BackfillFailure, 'attempts'>, fields: Map<string, string | null>): FieldUpdate[] {
  const field = backfillMarkerField(did)
  const marker = fields.get(field) ?? null
  if (marker === null) return []
  const before = parseBackfillMarker(marker)
  const attempts = before?.kind === 'failing' ? before.attempts + 1 : 1
  const updates: FieldUpdate[] = [{ field, expected: marker, next: JSON.stringify({ ...failure, attempts }) }]
  if (before?.kind !== 'failing') {
    const stored = fields.get(BACKFILL_COUNTERS.failing) ?? null
    updates.push({ field: BACKFILL_COUNTERS.failing, expected: stored ?? '', next: String(counterValue(stored) + 1) })
  }
  return updates
}

/** The records `--collections` keeps, in their order. */
async function* kept(records: AsyncIterable<RepoRecord>, filter: Pick<EventFilter, 'keepsPath'> | null): AsyncIterable<RepoRecord> {
  for await (const record of records) if (filter === null || filter.keepsPath(`${record.collection}/${record.rkey}`)) yield record
}

/** An open snapshot an earlier attempt left: ended `complete: false` (workers keep its records, delete nothing for it). */
function abandoned(progress: string | null, seq: number, nowMs: number): StreamEntry[] {
  if (progress === null) return []
  let open: SnapshotProgress
  try {
    open = JSON.parse(progress) as SnapshotProgress
  } catch {
    return [] // not ours to end: deleting the field is all we can do
  }
  return [snapshotEndEntry(open, { records: open.records, parts: open.parts, complete: false }, seq, new Date(nowMs).toISOString())]
}

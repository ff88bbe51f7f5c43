import { LogAggregator } from '../common/log-aggregator.js'
import type { Logger } from '../common/logger.js'
import { BatchChannel } from './batch-channel.js'
import type { CrashPoints } from './crash-points.js'
import type { CommitOutcome, CursorStore } from './cursor-store.js'
import type { DecodeResult } from './decode-frame.js'
import type { FrameDecoder } from './decoder.js'
import type { FrameQueue, QueuedFrame } from './frame-queue.js'
import { IngestorError, IngestorErrorCode } from './errors.js'
import type { ResolvedOptions } from './options.js'
import { RelayIntake, type RelayControl } from './relay-intake.js'
import type { IngestorCounters } from './status.js'
import { lowestCursor, parseStoredCursor, parseStoredCursors } from './stored-cursor.js'
import type { FrameVerifier } from './verify/frame-verifier.js'
import { applyVerdicts } from './verify/verdicts.js'
import { planWrite, type ShardWrite, type WritePlan } from './write-plan.js'
import { WriteStats } from './write-stats.js'
import { shardOfDid } from '../protocol/shard.js'
import { encodeRepoState } from '../repo-sync/repo-state-codec.js'
import type { HashUpdate } from './redis-sink.js'
import { RepoPlan, type BelievedRepo, type RepoOutcome } from './repo-plan.js'
import type { RepoStateCache } from './repo-state-cache.js'
import type { RepoWrite, RepoWriteContext, RepoWriteFields, RepoWriteOutcome, RepoWriter } from './repo-write.js'
import type { ResyncQueue } from './resync-queue.js'

/** A repo's own write (resync-worker.ts) waiting its turn among the decoded batches. */
interface RepoWriteItem {
  kind: 'repo'
  did: string
  build: (context: RepoWriteContext) => RepoWrite | null
  fields: RepoWriteFields
  done: (outcome: RepoWriteOutcome) => void
}

interface DecodedBatch {
  kind: 'decoded'
  /** Resync generation the frames were accepted in; stale batches are dropped unwritten. */
  epoch: number
  frames: QueuedFrame[]
  /** Raw bytes of `frames` (the channel's and the write's byte bound). */
  bytes: number
  results: DecodeResult[]
}

/** How many raw bytes of a malformed frame are logged (the whole frame goes to the dead-letter stream). */
const HEX_PREFIX_BYTES = 32

export interface PipelineParts {
  options: ResolvedOptions
  counters: IngestorCounters
  /** The bounded queue between the relay socket and the decoder (shared with the cursor store's fault lines). */
  queue: FrameQueue
  decoder: FrameDecoder
  /** --verify: checks each batch while it decodes; null without --verify. */
  verifier: FrameVerifier | null
  /** The cursors, and the only writer of them. */
  store: CursorStore
  relay: RelayControl
  crash: CrashPoints
  logger: Logger
  /** The relay said FutureCursor and the policy is 'exit'. */
  onFutureCursorExit: () => void
  /** Per-repo state (docs/repo-sync.md); null: off. */
  repoSync: PipelineRepoSync | null
}

export interface PipelineRepoSync {
  /** The believed states, the CAS bases of every write. */
  states: RepoStateCache
  /** Where repos to resync and held events go once their write is applied. */
  queue: ResyncQueue
  /** Fields of a shard's snapshot progress hash (a DID's open snapshot, spilled held events), read from Redis (retried through outages); null: absent. */
  readFields: (shard: number, fields: readonly string[]) => Promise<(string | null)[]>
  /** The fields of a shard's snapshot progress hash matching an HSCAN pattern, with their values. */
  scanFields: (shard: number, pattern: string) => Promise<Map<string, string>>
  shards: number
  /** The clock of the future-rev rule. */
  nowMs: () => number
}

/**
 * relay frames -> intake (relay-intake.ts) -> bounded queue -> decode (worker) -> bounded
 * channel -> plan (write-plan.ts) -> atomic CAS write (cursor-store.ts). Runs two loops: the
 * decode loop takes batches from the frame queue, the write loop writes every decoded batch
 * waiting as one script call per shard, so decoding overlaps the Redis write and a slow Redis
 * gets fewer, larger writes. This class only sequences the parts and acts on a write's outcome:
 * acknowledge, resync from what Redis holds, or give up (stopping while the stream is full).
 */
export class Pipeline implements RepoWriter {
  readonly stats = new WriteStats()
  readonly intake: RelayIntake
  /** Bounded by one write (--write-max-frames, writeMaxBytes): the writer takes all of it at once. */
  private readonly decoded: BatchChannel<DecodedBatch | RepoWriteItem>
  private readonly warnings: LogAggregator
  /**
   * Per shard, seqs at or below this are in the shard's stream already. Set where the relay is
   * asked to resume from the lowest shard cursor (start, resync, relay switch); null = none.
   */
  private shardFloors: (number | null)[] = []
  private epoch = 0
  private pausedByQueue = false
  private consecutiveBad = 0
  private loops: Promise<void> = Promise.resolve()
  /** The write in flight, awaited by switchRelay() before the cursor key changes. */
  private writing: Promise<void> = Promise.resolve()
  /**
   * Where this run started; the resume point if Redis comes back without any cursor. A run that
   * starts at the live tail (no cursor) starts just before the first seq it accepts.
   */
  private startPosition: number | null = null
  /**
   * The next write may set the cursor below the stored one, once, and only from a well-formed
   * frame: after FutureCursor with policy 'live' (a new relay seq space) or a forced start
   * cursor below the stored one. Otherwise a frame's seq never moves the cursor back (I15).
   */
  private cursorMayGoLower = false

  constructor(private readonly parts: PipelineParts) {
    const { options, logger } = parts
    this.warnings = new LogAggregator(logger, 'repeated relay frame warnings')
    this.decoded = new BatchChannel(options.writeMaxFrames, options.writeMaxBytes, (item) => (item.kind === 'repo' ? { frames: 1, bytes: 0 } : { frames: item.frames.length, bytes: item.bytes }))
    this.intake = new RelayIntake({
      options,
      counters: parts.counters,
      logger,
      warnings: this.warnings,
      relay: parts.relay,
      enqueue: (frame) => this.enqueue(frame),
      onFutureCursorExit: parts.onFutureCursorExit,
      onNewSeqSpace: () => {
        this.shardFloors = this.shardFloors.map(() => null)
        this.cursorMayGoLower = true // its first well-formed frame may set a lower cursor
        this.startPosition = null // this run now starts at its first seq there
      },
      onAccepted: (seq) => {
        if (this.startPosition === null) this.startPosition = Math.max(0, seq - 1)
      },
    })
  }

  /**
   * Starts from the stored cursors (raw strings from Redis, index = shard), the --cursor
   * override or a takeover's start (--legacy-cursor-key); resolves when drained. With shards the
   * relay resumes from the lowest shard cursor and each shard skips what it has (shardFloors).
   */
  start(storedRaw: readonly string[], takeoverStart: number | null = null): Promise<void> {
    const { store, options, logger } = this.parts
    store.load(storedRaw)
    const stored = parseStoredCursors(storedRaw, store.cursorKeys)
    this.checkStartCursor(stored)
    // A takeover (takeover.ts) only ever starts at or past the stored cursor: no conflict to check.
    const start = options.startCursor ?? takeoverStart
    this.shardFloors = start === null ? stored : stored.map(() => start)
    this.intake.resetTo(start ?? lowestCursor(stored), { awaitConnection: false })
    this.startPosition = this.intake.position
    logger.info({ storedCursor: stored.length === 1 ? stored[0] : stored, startCursor: start, from: this.intake.position }, 'starting from cursor')
    this.loops = Promise.all([this.decodeLoop(), this.writeLoop()]).then(() => undefined)
    return this.loops
  }

  /**
   * A start cursor other than the stored one writes events again (below) or skips them (above):
   * only on purpose (forceCursor). One equal to the stored cursor, or with none stored, is fine.
   */
  private checkStartCursor(storedByShard: readonly (number | null)[]): void {
    const { options, store, logger } = this.parts
    const start = options.startCursor
    const shard = storedByShard.findIndex((stored) => stored !== null && stored !== start)
    if (start === null || shard === -1) return
    const stored = storedByShard[shard]!
    const key = store.cursorKeys[shard]!
    const effect = start < stored ? `write events ${start + 1}..${stored} to the stream again` : `skip events ${stored + 1}..${start}`
    if (!options.forceCursor) {
      throw new IngestorError(
        IngestorErrorCode.CursorConflict,
        `start cursor ${start} differs from the cursor ${stored} stored in ${key}: starting there would ${effect}. ` + 'Omit --cursor to resume from the stored cursor, or add --force-cursor to start there anyway',
        { key, stored, start },
      )
    }
    this.cursorMayGoLower = storedByShard.some((value) => value !== null && start < value)
    logger.warn({ storedCursor: stored, startCursor: start, key }, `forced start cursor: this run will ${effect}`)
  }

  /** Graceful end: the caller has closed the relay client; write everything queued, then resolve. */
  async drain(): Promise<void> {
    this.parts.queue.close()
    await this.loops
    this.warnings.close()
  }

  /** Abandons queued work (fatal error): nothing more is written; the cursor in Redis stays consistent. */
  abandon(): void {
    this.parts.store.endFaults()
    this.epoch++
    this.parts.queue.clear()
    this.parts.queue.close()
    for (const item of this.decoded.clear()) if (item.kind === 'repo') item.done('abandoned')
    this.warnings.close()
  }

  /** The lowest shard cursor: every shard holds its events up to here (null: none stored). */
  get storedCursor(): number | null {
    return lowestCursor(this.shardCursors)
  }

  /** Each shard's cursor as we believe Redis holds it (null: none, or not a seq). */
  get shardCursors(): (number | null)[] {
    const { store } = this.parts
    return store.stored.map((raw, shard) => {
      try {
        return parseStoredCursor(raw, store.cursorKeys[shard]!)
      } catch {
        return null
      }
    })
  }

  get decodedBatches(): number {
    return this.decoded.size
  }

  private enqueue(frame: QueuedFrame): void {
    const { queue, counters, logger, relay } = this.parts
    if (queue.isClosed) return
    this.stats.noteEnqueued(frame)
    if (queue.push(frame) && !this.pausedByQueue) {
      this.pausedByQueue = true
      counters.backpressurePauses++
      logger.debug({ frames: queue.frames, bytes: queue.bytes }, 'queue full: pausing the relay socket')
      relay.pause()
    }
  }

  private maybeResume(): void {
    if (this.pausedByQueue && this.parts.queue.isBelowLowWater) {
      this.pausedByQueue = false
      this.parts.relay.resume()
    }
  }

  /**
   * Keeps up to decoder.parallelism batches decoding (one more with verification: the next batch's
   * keys are resolved on this thread while the verify workers check the one before), and hands
   * them to the writer in queue order.
   */
  private async decodeLoop(): Promise<void> {
    const { queue, options, decoder, verifier, crash } = this.parts
    const inFlight: Promise<DecodedBatch>[] = []
    const maxInFlight = decoder.parallelism + (verifier === null ? 0 : 1)
    for (;;) {
      if (inFlight.length < maxInFlight && queue.frames > 0) {
        const epoch = this.epoch
        const frames = queue.take(options.batchSize, options.batchBytes)
        this.maybeResume()
        const bytes = frames.reduce((sum, frame) => sum + frame.bytes.byteLength, 0)
        inFlight.push(this.decodeBatch(frames).then((results) => ({ kind: 'decoded' as const, epoch, frames, bytes, results })))
        continue
      }
      const oldest = inFlight.shift()
      if (oldest !== undefined) {
        const batch = await oldest
        crash.hit('after-decode')
        await this.decoded.put(batch)
        continue
      }
      if (queue.isClosed) break
      await queue.whenReady()
    }
    this.decoded.close()
  }

  /** Decodes a batch; with --verify, verifies it meanwhile and turns the frames that fail into dead letters. */
  private async decodeBatch(frames: readonly QueuedFrame[]): Promise<DecodeResult[]> {
    const { verifier, decoder, queue, logger } = this.parts
    const raw = frames.map((frame) => frame.bytes)
    if (verifier === null) return decoder.decode(raw)
    const [results, verdicts] = await Promise.all([decoder.decode(raw), verifier.verify(raw, () => queue.isClosed)])
    if (verdicts !== null) return applyVerdicts(results, verdicts)
    // Stopping while DIDs cannot be resolved: this batch and all after it stay unwritten (a new epoch drops them).
    logger.warn({ queuedFrames: queue.frames }, 'stopping while DIDs cannot be resolved: unverified frames are fetched again from the stored cursor on the next run')
    this.epoch++
    queue.clear()
    return results
  }

  /**
   * Writes everything decoded while the previous write was in flight as one script call per shard
   * (one round trip); a repo's own write (a resync's step) in between is written on its own, in
   * its place.
   */
  private async writeLoop(): Promise<void> {
    for (;;) {
      const waiting = await this.decoded.takeWaiting()
      if (waiting === null) return
      let run: DecodedBatch[] = []
      for (const item of [...waiting, null]) {
        if (item !== null && item.kind === 'decoded') {
          run.push(item)
          continue
        }
        // Batches accepted before a resync are dropped; the relay sends their frames again.
        const current = run.filter((batch) => batch.epoch === this.epoch)
        run = []
        if (current.length > 0) {
          this.writing = this.writeBatches(current)
          await this.writing
        }
        if (item !== null) {
          this.writing = this.writeRepoItem(item)
          await this.writing
        }
      }
    }
  }

  /** RepoWriter: a repo's own write, in the write order (resync-worker.ts). */
  writeRepo(did: string, build: (context: RepoWriteContext) => RepoWrite | null, fields: RepoWriteFields = {}): Promise<RepoWriteOutcome> {
    return new Promise((resolve) => {
      this.decoded.put({ kind: 'repo', did, build, fields, done: resolve }).catch(() => resolve('abandoned'))
    })
  }

  private async writeRepoItem(item: RepoWriteItem): Promise<void> {
    const { store, counters } = this.parts
    const repoSync = this.parts.repoSync!
    const shard = shardOfDid(item.did, repoSync.shards)
    const epoch = this.epoch
    const repo = (await repoSync.states.load([item.did])).get(item.did)!
    const named = [item.did, ...(item.fields.named?.() ?? [])]
    const values = await repoSync.readFields(shard, named)
    const fields = new Map(named.map((field, i) => [field, values[i] ?? null]))
    if (item.fields.matching !== undefined) for (const [field, value] of await repoSync.scanFields(shard, item.fields.matching)) fields.set(field, value)
    const progress = fields.get(item.did) ?? null
    fields.delete(item.did)
    if (epoch !== this.epoch) return item.done('resync')
    const raw = store.stored[shard]!
    const built = item.build({ repo, progress, seq: /^\d+$/.test(raw) ? Number(raw) : 0, fields })
    if (built === null) return item.done('skipped')
    const hashUpdates: HashUpdate[] = []
    const changed = new Map<string, BelievedRepo>()
    if (built.state !== undefined) {
      const next = encodeRepoState(built.state)
      if (repo.raw === null || !next.equals(repo.raw)) {
        hashUpdates.push({ hash: 'repos', field: item.did, expected: repo.raw ?? '', next })
        changed.set(item.did, { raw: next, state: built.state })
      }
    }
    if (built.progress !== undefined && built.progress !== progress) hashUpdates.push({ hash: 'snapshots', field: item.did, expected: progress ?? '', next: built.progress ?? '' })
    for (const { field, expected, next } of built.fieldUpdates ?? []) hashUpdates.push({ hash: 'snapshots', field, expected, next })
    if (built.entries.length === 0 && hashUpdates.length === 0) return item.done('applied')
    const write: ShardWrite = { shard, cursorKey: store.cursorKeys[shard]!, expected: raw, next: raw, entries: built.entries, dead: [], hashUpdates }
    const outcome = await store.commit([write])
    if (outcome.kind === 'applied') {
      repoSync.states.believe(changed)
      counters.batchesWritten++
    }
    this.afterCommit(outcome, null)
    item.done(outcome.kind)
  }

  private async writeBatches(batches: readonly DecodedBatch[]): Promise<void> {
    const { store, options, counters, logger } = this.parts
    // With shards, every shard gets a cursor before the first entry of a run is written.
    if (!(await this.anchorShards())) return
    const repos = await this.repoPlanFor(batches)
    if (repos === false) return
    const plan = planWrite(batches, {
      repos,
      believed: store.stored,
      cursorKeys: store.cursorKeys,
      floors: this.shardFloors,
      mayGoLower: this.cursorMayGoLower,
      consecutiveBad: this.consecutiveBad,
      maxConsecutiveBad: options.maxConsecutiveBadFrames,
    })
    if (plan.repo !== null) this.placeHeld(plan)
    if (plan.steppedBack) this.cursorMayGoLower = false
    this.consecutiveBad = plan.consecutiveBad
    counters.skippedKnown += plan.skippedKnown
    counters.unknownTypes += plan.unknown.length
    counters.filteredEvents += plan.filteredEvents
    counters.filteredOps += plan.filteredOps
    for (const { t, seq } of plan.unknown) logger.debug({ t, seq }, 'skipping a frame type we do not publish')
    this.noteDeadLetters(plan)
    if (plan.writes.length === 0) return this.stats.noteWritten(plan.lastFrame)
    this.afterCommit(await store.commit(plan.writes), plan)
  }

  /** The per-repo rules on the states of every DID in these batches (read where not believed); null: off; false: a resync meanwhile. */
  private async repoPlanFor(batches: readonly DecodedBatch[]): Promise<RepoPlan | null | false> {
    const repoSync = this.parts.repoSync
    if (repoSync === null) return null
    const dids = new Set<string>()
    for (const batch of batches) for (const result of batch.results) if ((result.kind === 'entry' || result.kind === 'filtered') && result.repo !== undefined) dids.add(result.repo.did)
    const epoch = this.epoch
    const believed = await repoSync.states.load(dids)
    return epoch === this.epoch ? new RepoPlan(believed, repoSync.nowMs(), repoSync.shards) : false
  }

  /**
   * Held events go to the resync queue before the write: those past its memory bounds are spilled
   * as fields of the shard's snapshot progress hash in this very write, so they exist exactly when
   * the cursor has moved past them (a write that fails writes neither; the relay sends them again).
   */
  private placeHeld(plan: WritePlan): void {
    const { counters, store } = this.parts
    const repoSync = this.parts.repoSync!
    for (const event of plan.repo!.held) {
      counters.repoHeld++
      const placement = repoSync.queue.hold(event)
      if (placement.to === 'dropped') counters.repoHeldDropped += placement.count
      if (placement.to !== 'spill') continue
      counters.repoHeldSpilled++
      const shard = shardOfDid(event.did, repoSync.shards)
      let write = plan.writes.find((candidate) => candidate.shard === shard)
      if (write === undefined) {
        const believed = store.stored[shard]!
        write = { shard, cursorKey: store.cursorKeys[shard]!, expected: believed, next: believed, entries: [], dead: [] }
        plan.writes.push(write)
      }
      write.hashUpdates = [...(write.hashUpdates ?? []), { hash: 'snapshots', field: placement.field, expected: '', next: placement.value }]
    }
  }

  /** After a write with per-repo state is applied: its states are believed, its repos to resync and held events handed on, its desyncs logged. */
  private afterRepoWrite(outcome: RepoOutcome): void {
    const { counters, logger } = this.parts
    const repoSync = this.parts.repoSync!
    repoSync.states.believe(outcome.changed)
    const count = (kind: string): number => outcome.verdicts.get(kind) ?? 0
    counters.repoStaleRevs += count('stale') + count('ignore')
    counters.repoFutureRevs += count('future')
    counters.repoInvalidRevs += count('invalid-rev')
    counters.repoInactive += count('inactive')
    counters.repoSyncResyncs += count('resync')
    counters.repoSyncRevOnly += count('rev-only')
    counters.repoDroppedDesynchronized += count('dropped-desynchronized')
    for (const desync of outcome.desyncs) {
      if (desync.cause === 'since') counters.repoDesyncSince++
      else counters.repoDesyncPrevData++
      // Once per repo: a desynchronized repo's later events are dropped, not checked again.
      logger.warn({ did: desync.did, seq: desync.seq, cause: desync.cause, expected: desync.expected, got: desync.got }, 'repo desynchronized: its events wait for a resync')
    }
    for (const did of outcome.resyncs) repoSync.queue.request(did)
  }

  /**
   * Shards are written one script each, so a crash can leave some written and others not. A
   * restart resumes from the lowest shard cursor, which is only right if every shard has one,
   * so before the first entry each shard without a cursor gets the run's start position (I20).
   * False when that ended in a resync (the batches in hand are stale).
   */
  private async anchorShards(): Promise<boolean> {
    const start = this.startPosition
    if (start === null) return true
    const epoch = this.epoch
    const outcome = await this.parts.store.anchor(start)
    if (outcome === null) return true
    this.afterCommit(outcome, null)
    return epoch === this.epoch && this.parts.store.stored.every((raw) => raw !== '')
  }

  /** Every shard applied: acknowledged; another cursor somewhere: resync; stopping while full: give up. */
  private afterCommit(outcome: CommitOutcome, plan: WritePlan | null): void {
    switch (outcome.kind) {
      case 'resync':
        return this.resync(this.parts.store.stored, outcome.reason)
      case 'abandoned':
        return this.abandonWhileFull(outcome.write)
      case 'applied':
        if (plan !== null) {
          this.parts.counters.batchesWritten++
          this.stats.acknowledge(plan)
          if (plan.repo !== null) this.afterRepoWrite(plan.repo)
        }
        this.parts.crash.hit('after-ack')
    }
  }

  private noteDeadLetters(plan: WritePlan): void {
    const { counters, options, relay } = this.parts
    for (const { result, frame } of plan.deadLetters) {
      counters.deadLettered++
      this.stats.noteDeadLetter(result.code)
      const fields = { seq: result.seq ?? frame.seq ?? null, reason: result.message, bytes: frame.bytes.byteLength, hexPrefix: Buffer.from(frame.bytes.subarray(0, HEX_PREFIX_BYTES)).toString('hex') }
      this.warnings.warn(result.code, fields, 'malformed frame: quarantined in the dead-letter stream')
    }
    if (plan.badRuns === 0) return
    counters.badFrameReconnects += plan.badRuns
    this.warnings.warn('bad-frame-reconnect', { consecutive: options.maxConsecutiveBadFrames }, 'too many malformed frames in a row; reconnecting to the relay')
    relay.reconnect(`${options.maxConsecutiveBadFrames} malformed frames in a row`)
  }

  /** Stopping while the stream is full: this write and everything queued are given up; the stored cursor still matches the stream. */
  private abandonWhileFull(write: ShardWrite): void {
    this.parts.logger.warn(
      { shard: write.shard, unwrittenEntries: write.entries.length, queuedFrames: this.parts.queue.frames, storedCursor: write.expected },
      'stopping while the stream is full: unwritten frames are fetched again from the stored cursor on the next run',
    )
    this.abandon()
  }

  /**
   * Drops everything queued and restarts the relay from the cursors Redis actually holds (raw,
   * index = shard): from the lowest, each shard skipping what it has.
   */
  private resync(storedRaw: readonly string[], reason: string): void {
    const { store, counters, logger, relay } = this.parts
    const stored = parseStoredCursors(storedRaw, store.cursorKeys)
    counters.resyncs++
    const dropped = this.dropUnwritten()
    logger.warn({ reason, stored: storedRaw.length === 1 ? storedRaw[0] : storedRaw, position: this.intake.position, dropped }, 'resynchronising: restarting the relay from the stored cursor')
    store.load(storedRaw)
    this.parts.repoSync?.states.forgetAll() // Redis may hold other states too
    this.shardFloors = stored
    this.cursorMayGoLower = false // a new FutureCursor (if the relay still says so) allows it again
    if (stored.includes(null) && this.startPosition !== null) {
      // No cursor key at all: not one write of this run survived there (each write sets it), so
      // that stream lacks everything since our start position; a live tail would skip all of that.
      logger.warn({ from: this.startPosition }, 'Redis has no cursor any more: restarting from where this run started')
    }
    this.intake.resetTo(lowestCursor(stored.map((cursor) => cursor ?? this.startPosition)), { awaitConnection: true })
    this.maybeResume()
    relay.reconnect(`resync to cursor ${lowestCursor(stored) ?? 'none'}`)
  }

  /** Drops every frame not yet written (a new epoch: batches decoding now are dropped by the writer); returns how many. */
  private dropUnwritten(): number {
    this.epoch++
    let dropped = this.parts.queue.clear()
    for (const item of this.decoded.clear()) {
      if (item.kind === 'repo') item.done('resync')
      else dropped += item.frames.length
    }
    this.parts.counters.framesRequeued += dropped
    this.stats.noteDropped()
    return dropped
  }

  /**
   * After Redis reconnected: a Redis that came back having lost acknowledged writes (AOF
   * everysec, a failover) holds an older cursor than ours. The next write finds that out (I4),
   * but a pipeline with nothing to write (a quiet relay, the end of a replay) would wait for it
   * forever with a position Redis does not have; so when idle it reads the cursors and resyncs
   * from them if they differ. Work in flight or queued is left to the CAS of its own write.
   */
  async checkCursorsAfterReconnect(): Promise<void> {
    const { store, queue, counters } = this.parts
    await this.writing.catch(() => undefined)
    const idle = (): boolean => queue.frames === 0 && this.decoded.size === 0 && !this.intake.waitingForConnection
    if (!idle()) return
    const epoch = this.epoch
    // One try: a Redis gone again is left to the next write.
    const stored = await store.read(() => true)
    // Anything that happened meanwhile (a write, a resync, a relay switch) settles it its own way.
    if (epoch !== this.epoch || !idle() || stored.every((raw, shard) => raw === store.stored[shard])) return
    counters.casMismatches++
    this.resync(stored, 'Redis came back holding another cursor (it lost acknowledged writes)')
  }

  /**
   * Relay failover (relay-failover.ts); the caller has closed the old relay's client. Frames not
   * yet written came from the old relay: they are dropped (fetched again from its cursor when it
   * is used again), never written against another relay's cursor. The write in flight finishes
   * against the old keys; then the new relay's cursor keys are read and become the CAS bases.
   * Frames are accepted again from the next connection. Resolves with the new relay's stored
   * cursor, the lowest of its shards' (null: none, its live tail).
   */
  async switchRelay(cursorKey: string): Promise<{ stored: number | null; dropped: number }> {
    const { store, queue } = this.parts
    this.intake.ignoreUntilNextConnection()
    const dropped = this.dropUnwritten()
    this.maybeResume()
    await this.writing.catch(() => undefined) // a failing write ends the run through loops, not here
    const raw = await store.read(() => queue.isClosed, cursorKey)
    store.load(raw, cursorKey)
    const storedByShard = parseStoredCursors(raw, store.cursorKeys)
    const stored = lowestCursor(storedByShard)
    this.shardFloors = storedByShard
    this.intake.resetTo(stored, { awaitConnection: true, forgetLive: true })
    this.startPosition = stored
    this.cursorMayGoLower = false
    this.consecutiveBad = 0
    return { stored, dropped }
  }
}

import { setTimeout as sleep } from 'node:timers/promises'
import { exponentialDelayMs } from '../client/backoff.js'
import type { RelayClient } from '../client/relay-client.js'
import { FaultLog } from '../common/fault-log.js'
import { LogAggregator } from '../common/log-aggregator.js'
import type { Logger } from '../common/logger.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { decodeEvent, type ErrorEvent, type InfoEvent } from '../protocol/events.js'
import { peekFrame } from '../protocol/peek.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
import { BatchChannel } from './batch-channel.js'
import type { CrashPoints } from './crash-points.js'
import { frameDecodes, type DecodeResult } from './decode-frame.js'
import type { FrameDecoder } from './decoder.js'
import { FrameQueue, type QueuedFrame } from './frame-queue.js'
import { IngestorError, IngestorErrorCode } from './errors.js'
import type { ResolvedOptions } from './options.js'
import { redisConfigError } from './redis-connection.js'
import type { DeadLetter, RedisSink, WriteBatch } from './redis-sink.js'
import { SeqTracker } from './seq-tracker.js'
import { emptyCounters, type IngestorCounters } from './status.js'
import { StreamFullWait } from './trim-wait.js'
import { highestCursor, lowestCursor, parseStoredCursor, parseStoredCursors } from './stored-cursor.js'
import type { FrameVerifier } from './verify/frame-verifier.js'
import { applyVerdicts } from './verify/verdicts.js'

interface DecodedBatch {
  /** Resync generation the frames were accepted in; stale batches are dropped unwritten. */
  epoch: number
  frames: QueuedFrame[]
  /** Raw bytes of `frames` (the channel's and the write's byte bound). */
  bytes: number
  results: DecodeResult[]
}

/** A write to one shard, naming its shard and cursor key. */
type ShardWrite = WriteBatch & { shard: number; cursorKey: string }

/** How one shard's write ended (commitShard). */
type ShardOutcome =
  | { kind: 'applied' }
  /** The stored cursor is neither the expected one nor this write's: the pipeline must resync. */
  | { kind: 'other-cursor'; stored: string; reason: string }
  /** Stopping while the stream was full: not applied, nothing more will be written. */
  | { kind: 'abandoned' }

/** What a write carries besides the batch: applied to the status only once Redis acknowledged it. */
interface WriteMeta {
  /** `time` of the last event written (event-time lag). */
  lastTimeMs: number | null
  /** The last frame of the write (receive-time lag, pending tracking). */
  lastFrame: QueuedFrame
  /** Entries and their raw frame bytes by event type. */
  byType: Map<string, { events: number; bytes: number }>
}

/** How many raw bytes of a malformed frame are logged (the whole frame goes to the dead-letter stream). */
const HEX_PREFIX_BYTES = 32

/**
 * relay frames -> bounded queue -> decode (worker) -> bounded channel -> atomic CAS write.
 * Runs two loops: the decode loop takes batches from the frame queue, the write loop writes
 * every decoded batch waiting as one script call, so decoding overlaps the Redis write and a
 * slow Redis gets fewer, larger writes instead of one round trip per decode batch. The write loop is the
 * only writer of the cursor; every frame it writes or skips was vetted in socket order by the
 * SeqTracker in onFrame().
 */
export class Pipeline {
  readonly counters: IngestorCounters = emptyCounters()
  readonly queue: FrameQueue
  /** Bounded by one write (--write-max-frames, writeMaxBytes): the writer takes all of it at once. */
  private readonly decoded: BatchChannel<DecodedBatch>
  private readonly tracker = new SeqTracker()
  private readonly logger: Logger
  private client: RelayClient | null = null

  /** The cursor key of the relay frames come from now (relay failover switches it: seq is relay-scoped). */
  private cursorKey: string
  /** Its key per shard (sink.cursorKeys), index = shard; one key without --shards. */
  private shardCursorKeys: string[]
  /** What we believe each shard's cursor key holds ('' = no key); the CAS bases of the next write. */
  private believed: string[]
  /**
   * Per shard, seqs at or below this are in the shard's stream already. Set where the relay is
   * asked to resume from the lowest shard cursor (start, resync, relay switch); null = none.
   * Without shards the seq tracker has already skipped those frames.
   */
  private shardFloors: (number | null)[]
  private epoch = 0
  /** After a resync, frames still arriving from the dropped connection are ignored. */
  private awaitingConnection = false
  /** FutureCursor with policy 'live': the next connection asks for no cursor. */
  private goLive = false
  private pausedByQueue = false
  /** The first frame of each connection is checked against the cursor we connected with. */
  private firstFrameOfConnection = false
  private consecutiveBad = 0
  private lastEventTimeMs: number | null = null
  /** When Redis last acknowledged a write (epoch ms); /ready compares it with pendingSinceUs. */
  private lastAckAtMs: number | null = null
  /** Receive-to-acknowledge time of the last frame written. */
  private lastWriteLagMs: number | null = null
  /** Receive time of the oldest frame not yet written (the last written one's while a backlog drains); null when none waits. */
  private pendingSinceUs: number | null = null
  private lastEnqueued: QueuedFrame | null = null
  private readonly writtenByType = new Map<string, { events: number; bytes: number }>()
  /** Keys are decode error codes: a fixed set, so this map is bounded. */
  private readonly deadLettersByCode = new Map<string, number>()
  /** Called with the duration of every script call Redis answered (the metrics histogram). */
  onWriteAnswered: ((durationMs: number) => void) | null = null
  /** --verify: checks each batch while it decodes (verify/frame-verifier.ts); null without --verify. */
  verifier: FrameVerifier | null = null
  /** Warnings a relay can trigger once per frame (malformed frames, seq regressions): first in full, then counted. */
  private readonly warnings: LogAggregator
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
  /** Writes that fail or go unanswered: one warning, "redis writes still failing" lines, one line when they succeed again. */
  private readonly writeFaults: FaultLog
  /** Safe trimming: a write refused because the stream is full waits here (null without --max-len or with --trim unsafe). */
  private readonly streamFullWait: StreamFullWait | null

  constructor(
    private readonly options: ResolvedOptions,
    private readonly sink: RedisSink,
    private readonly decoder: FrameDecoder,
    private readonly crash: CrashPoints,
    logger: Logger,
    /** Called when the relay says FutureCursor and the policy is 'exit'. */
    private readonly onFutureCursorExit: () => void,
  ) {
    this.logger = logger
    this.cursorKey = options.cursorKey
    this.shardCursorKeys = sink.cursorKeys(options.cursorKey)
    this.believed = this.shardCursorKeys.map(() => '')
    this.shardFloors = this.shardCursorKeys.map(() => null)
    this.warnings = new LogAggregator(logger, 'repeated relay frame warnings')
    this.queue = new FrameQueue(options.queueFrames, options.queueBytes)
    this.decoded = new BatchChannel(options.writeMaxFrames, options.writeMaxBytes, (batch) => ({ frames: batch.frames.length, bytes: batch.bytes }))
    this.writeFaults = new FaultLog(logger, {
      still: 'redis writes still failing',
      durationField: 'failingForMs',
      intervalMs: options.redisDownLogIntervalMs,
      describe: () => ({ queueFrames: this.queue.frames, queueBytes: this.queue.bytes }),
    })
    this.streamFullWait = options.maxLen !== null && options.trim === 'safe' ? new StreamFullWait(sink, options.maxLen, this.counters, logger) : null
  }

  attach(client: RelayClient): void {
    this.client = client
  }

  /**
   * Starts from the stored cursors (raw strings from Redis, index = shard), the --cursor
   * override or a takeover's start (--legacy-cursor-key); resolves when drained. With shards the relay resumes from the lowest shard cursor
   * and each shard skips what it has (shardFloors).
   */
  start(storedRaw: readonly string[], takeoverStart: number | null = null): Promise<void> {
    this.believed = [...storedRaw]
    const stored = parseStoredCursors(storedRaw, this.shardCursorKeys)
    this.checkStartCursor(stored)
    // A takeover (takeover.ts) only ever starts at or past the stored cursor: no conflict to check.
    const start = this.options.startCursor ?? takeoverStart
    this.shardFloors = start === null ? stored : stored.map(() => start)
    this.tracker.reset(start ?? lowestCursor(stored))
    this.startPosition = this.tracker.position
    this.logger.info({ storedCursor: stored.length === 1 ? stored[0] : stored, startCursor: start, from: this.tracker.position }, 'starting from cursor')
    this.loops = Promise.all([this.decodeLoop(), this.writeLoop()]).then(() => undefined)
    return this.loops
  }

  /**
   * A start cursor other than the stored one writes events again (below) or skips them (above):
   * only on purpose (forceCursor). One equal to the stored cursor, or with none stored, is fine.
   */
  private checkStartCursor(storedByShard: readonly (number | null)[]): void {
    const start = this.options.startCursor
    const shard = storedByShard.findIndex((stored) => stored !== null && stored !== start)
    if (start === null || shard === -1) return
    const stored = storedByShard[shard]!
    const key = this.shardCursorKeys[shard]!
    const effect = start < stored ? `write events ${start + 1}..${stored} to the stream again` : `skip events ${stored + 1}..${start}`
    if (!this.options.forceCursor) {
      throw new IngestorError(
        IngestorErrorCode.CursorConflict,
        `start cursor ${start} differs from the cursor ${stored} stored in ${key}: starting there would ${effect}. ` + 'Omit --cursor to resume from the stored cursor, or add --force-cursor to start there anyway',
        { key, stored, start },
      )
    }
    this.cursorMayGoLower = storedByShard.some((value) => value !== null && start < value)
    this.logger.warn({ storedCursor: stored, startCursor: start, key }, `forced start cursor: this run will ${effect}`)
  }

  /** The relay client asks this at every (re)connect. */
  cursorForConnect(): number | null {
    return this.goLive ? null : this.tracker.position
  }

  onRelayOpen(): void {
    this.awaitingConnection = false
    this.firstFrameOfConnection = true
    if (this.goLive) {
      this.goLive = false
      this.tracker.reset(null) // a new seq space: accept whatever the relay sends from now on
      this.shardFloors = this.shardFloors.map(() => null)
      this.cursorMayGoLower = true // ... and its first well-formed frame may set a lower cursor
      this.startPosition = null // ... and this run now starts at its first seq there
    } else {
      this.tracker.newConnection()
    }
  }

  onFrame(bytes: Uint8Array, receivedAtUs: number): void {
    if (this.awaitingConnection) return
    this.counters.framesReceived++
    let peek
    try {
      peek = peekFrame(bytes)
    } catch (err) {
      if (!isFrameDecodeError(err)) throw err // our own bug, not upstream garbage: fail loudly
      this.enqueue({ bytes, seq: undefined, receivedAtUs }) // the decoder names the error; it is dead-lettered
      return
    }
    if (peek.op === -1 || peek.t === '#info') {
      this.handleControlFrame(bytes, receivedAtUs)
      return
    }
    if (peek.seq !== undefined) {
      // A seq that leaps ahead would become our position (and the next connection's cursor), and
      // every frame below it would be skipped: trusted only from a frame that decodes (I15).
      if (this.tracker.wouldLeap(peek.seq) && !frameDecodes(bytes, this.options.verifyBlocks)) {
        this.counters.untrustedSeqs++
        this.warnings.warn('untrusted-seq', { seq: peek.seq, position: this.tracker.position }, 'a malformed frame carries a seq ahead of the stream: not trusted (dead-lettered, position unchanged)')
        this.enqueue({ bytes, seq: peek.seq, receivedAtUs }) // the seq goes with the dead letter; a bad frame never moves the cursor
        return
      }
      const position = this.tracker.position
      const verdict = this.tracker.classify(peek.seq)
      const first = this.firstFrameOfConnection
      this.firstFrameOfConnection = false
      switch (verdict) {
        case 'known':
          this.counters.skippedKnown++
          if (first && position !== null && peek.seq < position) this.noteBelowCursorOnConnect(peek.seq, position)
          return
        case 'backwards':
        case 'repeat':
          if (verdict === 'backwards') this.counters.skippedBackwards++
          else this.counters.skippedRepeat++
          this.warnings.warn(verdict, { seq: peek.seq, position: this.tracker.position }, `relay sent seq ${verdict === 'backwards' ? 'going backwards' : 'twice'}; skipped`)
          return
        case 'jump':
          this.counters.seqJumps++
          break
        case 'next':
          break
      }
      if (this.startPosition === null) this.startPosition = Math.max(0, peek.seq - 1)
    }
    this.enqueue({ bytes, seq: peek.seq, receivedAtUs })
  }

  /** Graceful end: the caller has closed the relay client; write everything queued, then resolve. */
  async drain(): Promise<void> {
    this.queue.close()
    await this.loops
    this.warnings.close()
  }

  /** Abandons queued work (fatal error): nothing more is written; the cursor in Redis stays consistent. */
  abandon(): void {
    this.writeFaults.end()
    this.epoch++
    this.queue.clear()
    this.queue.close()
    this.decoded.clear()
    this.warnings.close()
  }

  /** The lowest shard cursor: every shard holds its events up to here (null: none stored). */
  get storedCursor(): number | null {
    return lowestCursor(this.shardCursors)
  }

  /** Each shard's cursor as we believe Redis holds it (null: none, or not a seq). */
  get shardCursors(): (number | null)[] {
    return this.believed.map((raw, shard) => {
      try {
        return parseStoredCursor(raw, this.shardCursorKeys[shard]!)
      } catch {
        return null
      }
    })
  }

  get position(): number | null {
    return this.tracker.position
  }

  /** now - `time` of the last written event; meaningless for replayed fixtures, whose times are old. */
  get eventLagMs(): number | null {
    return this.lastEventTimeMs === null ? null : Date.now() - this.lastEventTimeMs
  }

  /**
   * How far writes trail receipt: while frames wait, now - receive time of the oldest waiting
   * frame (after a write, the receive time of its last frame); when none waits, the receive-to-ack
   * time of the last frame written. Unlike event-time lag this is right for replayed fixtures too.
   */
  get receiveLagMs(): number | null {
    if (this.pendingSinceUs !== null) return Math.max(0, Date.now() - this.pendingSinceUs / 1000)
    return this.lastWriteLagMs
  }

  get lastAckAt(): number | null {
    return this.lastAckAtMs
  }

  get pendingSinceMs(): number | null {
    return this.pendingSinceUs === null ? null : Math.floor(this.pendingSinceUs / 1000)
  }

  get writtenTypes(): Record<string, { events: number; bytes: number }> {
    return Object.fromEntries([...this.writtenByType].map(([type, tally]) => [type, { ...tally }]))
  }

  get deadLetterCodes(): Record<string, number> {
    return Object.fromEntries(this.deadLettersByCode)
  }

  /** How long writes have failed or one has gone unanswered past --ready-write-timeout; null while Redis answers them. */
  get writesFailingForMs(): number | null {
    return this.writeFaults.durationMs
  }

  get streamFull(): boolean {
    return this.streamFullWait?.isFull ?? false
  }

  get decodedBatches(): number {
    return this.decoded.size
  }

  private enqueue(frame: QueuedFrame): void {
    if (this.queue.isClosed) return
    this.lastEnqueued = frame
    this.pendingSinceUs ??= frame.receivedAtUs
    if (this.queue.push(frame) && !this.pausedByQueue) {
      this.pausedByQueue = true
      this.counters.backpressurePauses++
      this.logger.debug({ frames: this.queue.frames, bytes: this.queue.bytes }, 'queue full: pausing the relay socket')
      this.client?.pause()
    }
  }

  private maybeResume(): void {
    if (this.pausedByQueue && this.queue.isBelowLowWater) {
      this.pausedByQueue = false
      this.client?.resume()
    }
  }

  private handleControlFrame(bytes: Uint8Array, receivedAtUs: number): void {
    let event
    try {
      event = decodeEvent(bytes, { verifyBlocks: this.options.verifyBlocks })
    } catch (err) {
      if (!isFrameDecodeError(err)) throw err
      this.enqueue({ bytes, seq: undefined, receivedAtUs }) // malformed control frame: dead-letter it like any other
      return
    }
    if (event.type === 'info') this.handleInfo(event)
    else if (event.type === 'error') this.handleError(event)
  }

  private handleInfo(event: InfoEvent): void {
    this.counters.infoFrames++
    if (event.name === 'OutdatedCursor') {
      this.counters.outdatedCursor++
      this.logger.warn(
        { info: event.name, message: event.message, cursor: this.tracker.position },
        'relay says our cursor is older than its window (OutdatedCursor): events between our cursor and its oldest were lost upstream',
      )
    } else {
      this.logger.info({ info: event.name, message: event.message }, 'relay info frame')
    }
  }

  private handleError(event: ErrorEvent): void {
    this.counters.errorFrames++
    const fields = { error: event.error, message: event.message, cursor: this.tracker.position }
    switch (event.error) {
      case 'ConsumerTooSlow':
        this.counters.consumerTooSlow++
        this.logger.warn(fields, 'relay dropped us as too slow (ConsumerTooSlow); reconnecting from our cursor')
        this.client?.reconnect('ConsumerTooSlow')
        return
      case 'FutureCursor':
        this.counters.futureCursor++
        if (this.options.onFutureCursor === 'exit') {
          this.logger.error({ ...fields, policy: 'exit' }, 'GAP WARNING: relay says our cursor is in its future (FutureCursor): its seq space is not ours; draining and exiting')
          this.onFutureCursorExit()
        } else {
          this.logger.error({ ...fields, policy: 'live' }, 'GAP WARNING: relay says our cursor is in its future (FutureCursor): switching to the live tail; events between are not fetched')
          this.goLive = true
          this.client?.reconnect('FutureCursor: going live')
        }
        return
      default:
        this.logger.warn(fields, 'relay sent an error frame; it will close the connection and we reconnect')
    }
  }

  /** Keeps up to decoder.parallelism batches decoding, and hands them to the writer in queue order. */
  private async decodeLoop(): Promise<void> {
    const inFlight: Promise<DecodedBatch>[] = []
    for (;;) {
      if (inFlight.length < this.decoder.parallelism && this.queue.frames > 0) {
        const epoch = this.epoch
        const frames = this.queue.take(this.options.batchSize, this.options.batchBytes)
        this.maybeResume()
        const bytes = frames.reduce((sum, frame) => sum + frame.bytes.byteLength, 0)
        inFlight.push(this.decodeBatch(frames).then((results) => ({ epoch, frames, bytes, results })))
        continue
      }
      const oldest = inFlight.shift()
      if (oldest !== undefined) {
        const batch = await oldest
        this.crash.hit('after-decode')
        await this.decoded.put(batch)
        continue
      }
      if (this.queue.isClosed) break
      await this.queue.whenReady()
    }
    this.decoded.close()
  }

  /** Decodes a batch; with --verify, verifies it meanwhile and turns the frames that fail into dead letters. */
  private async decodeBatch(frames: readonly QueuedFrame[]): Promise<DecodeResult[]> {
    const raw = frames.map((frame) => frame.bytes)
    if (this.verifier === null) return this.decoder.decode(raw)
    const [results, verdicts] = await Promise.all([this.decoder.decode(raw), this.verifier.verify(raw, () => this.queue.isClosed)])
    if (verdicts !== null) return applyVerdicts(results, verdicts)
    // Stopping while DIDs cannot be resolved: this batch and all after it stay unwritten (a new epoch drops them).
    this.logger.warn({ queuedFrames: this.queue.frames }, 'stopping while DIDs cannot be resolved: unverified frames are fetched again from the stored cursor on the next run')
    this.epoch++
    this.queue.clear()
    return results
  }

  /** Writes everything decoded while the previous write was in flight as one script call (one round trip). */
  private async writeLoop(): Promise<void> {
    for (;;) {
      const waiting = await this.decoded.takeWaiting()
      if (waiting === null) return
      // Batches accepted before a resync are dropped; the relay sends their frames again.
      const current = waiting.filter((batch) => batch.epoch === this.epoch)
      if (current.length === 0) continue
      this.writing = this.writeBatches(current)
      await this.writing
    }
  }

  private async writeBatches(batches: readonly DecodedBatch[]): Promise<void> {
    // With shards, every shard gets a cursor before the first entry of a run is written (see anchorShards).
    if (!(await this.anchorShards())) return
    const shards = this.believed.length
    const entries: StreamEntry[][] = Array.from({ length: shards }, () => [])
    const dead: DeadLetter[] = []
    const floors = this.shardFloors
    // Parsed once per write: the forward-only rule and each shard's next cursor need them.
    const believed = parseStoredCursors(this.believed, this.shardCursorKeys)
    const highest = highestCursor(believed)
    const lowest = lowestCursor(believed)
    let lastSeq: number | null = null
    let lowers = false
    let lastTimeMs: number | null = null
    const byType = new Map<string, { events: number; bytes: number }>()
    for (const batch of batches) {
      for (let i = 0; i < batch.frames.length; i++) {
        const frame = batch.frames[i]!
        const result = batch.results[i]!
        // Only a frame that decoded moves the cursor (a --verify failure did): a malformed frame's
        // seq is a hint, and the cursor passes its dead letter with the next well-formed frame above it (I15).
        if (frame.seq !== undefined && (result.kind !== 'bad' || result.decoded === true)) {
          // Forward only; the one sanctioned step back (a new seq space, a forced --cursor) is taken once.
          if (this.cursorMayGoLower && highest !== null && frame.seq <= (lastSeq ?? highest)) {
            lastSeq = frame.seq
            lowers = true
            this.cursorMayGoLower = false
          } else {
            const cursor = lastSeq ?? lowest
            if (cursor === null || frame.seq > cursor) lastSeq = frame.seq
          }
        }
        switch (result.kind) {
          case 'entry': {
            this.consecutiveBad = 0
            const floor = floors[result.shard]
            if (floor !== null && floor !== undefined && result.entry.seq <= floor) {
              this.counters.skippedKnown++ // its shard has it: written before a crash, after which the relay resumed from the lowest shard cursor
              break
            }
            entries[result.shard]!.push(result.entry)
            this.counters.filteredOps += result.filteredOps ?? 0
            addTally(byType, result.entry.type, 1, frame.bytes.byteLength)
            if (result.timeMs !== null) lastTimeMs = result.timeMs
            break
          }
          case 'skip':
            this.counters.unknownTypes++
            this.logger.debug({ t: result.t, seq: result.seq }, 'skipping a frame type we do not publish')
            break
          case 'filtered':
            // Well-formed, not wanted (--collections/--types); its seq above still moves the cursor.
            this.consecutiveBad = 0
            this.counters.filteredEvents++
            this.counters.filteredOps += result.ops
            break
          case 'bad': {
            const seq = result.seq ?? frame.seq ?? null
            // Dead letters go with shard 0's write; one it already has is not written twice.
            if (seq !== null && floors[0] !== null && seq <= floors[0]!) break
            dead.push({ seq, code: result.code, message: result.message, bytes: frame.bytes })
            this.noteBadFrame(result, frame)
            break
          }
        }
      }
    }
    const lastBatch = batches[batches.length - 1]!
    const meta: WriteMeta = { lastTimeMs, lastFrame: lastBatch.frames[lastBatch.frames.length - 1]!, byType }
    const writes: ShardWrite[] = []
    for (let shard = 0; shard < shards; shard++) {
      const expected = this.believed[shard]!
      const next = lastSeq === null ? expected : String(lowers ? lastSeq : Math.max(lastSeq, believed[shard] ?? -1))
      const shardDead = shard === 0 ? dead : []
      if (entries[shard]!.length === 0 && shardDead.length === 0 && next === expected) continue
      writes.push({ shard, cursorKey: this.shardCursorKeys[shard]!, expected, next, entries: entries[shard]!, dead: shardDead, ...(lowers ? { cursorMayGoLower: true } : {}) })
    }
    if (writes.length === 0) return this.noteWritten(meta.lastFrame)
    await this.commit(writes, meta)
  }

  /**
   * Shards are written one script each, so a crash can leave some written and others not. A
   * restart resumes from the lowest shard cursor, which is only right if every shard has one:
   * a shard without a cursor key would not say where this run started. So before the first
   * entry, each shard without a cursor gets the run's start position (I20). False when that
   * ended in a resync (the batches in hand are stale).
   */
  private async anchorShards(): Promise<boolean> {
    const start = this.startPosition
    if (this.believed.length === 1 || start === null) return true
    const writes: ShardWrite[] = []
    this.believed.forEach((expected, shard) => {
      if (expected === '') writes.push({ shard, cursorKey: this.shardCursorKeys[shard]!, expected, next: String(start), entries: [], dead: [] })
    })
    if (writes.length === 0) return true
    const epoch = this.epoch
    await this.commit(writes, null)
    return epoch === this.epoch && this.believed.every((raw) => raw !== '')
  }

  private noteBadFrame(result: Extract<DecodeResult, { kind: 'bad' }>, frame: QueuedFrame): void {
    this.counters.deadLettered++
    this.deadLettersByCode.set(result.code, (this.deadLettersByCode.get(result.code) ?? 0) + 1)
    this.warnings.warn(
      result.code,
      {
        seq: result.seq ?? frame.seq ?? null,
        reason: result.message,
        bytes: frame.bytes.byteLength,
        hexPrefix: Buffer.from(frame.bytes.subarray(0, HEX_PREFIX_BYTES)).toString('hex'),
      },
      'malformed frame: quarantined in the dead-letter stream',
    )
    if (!result.code.startsWith('VERIFY_') && ++this.consecutiveBad >= this.options.maxConsecutiveBadFrames) {
      this.counters.badFrameReconnects++
      this.warnings.warn('bad-frame-reconnect', { consecutive: this.consecutiveBad }, 'too many malformed frames in a row; reconnecting to the relay')
      this.consecutiveBad = 0
      this.client?.reconnect(`${this.options.maxConsecutiveBadFrames} malformed frames in a row`)
    }
  }

  /**
   * Writes one shard's batch per write, all shards at once (each is its own atomic script), and
   * then acknowledges them together. If a shard's stored cursor turns out to be another one,
   * the shards that were applied keep theirs and the pipeline resyncs from what each holds.
   */
  private async commit(writes: readonly ShardWrite[], meta: WriteMeta | null): Promise<void> {
    const settled = await Promise.allSettled(writes.map((write) => this.commitShard(write)))
    const failed = settled.find((outcome) => outcome.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    let resyncReason: string | null = null
    let abandoned = false
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status !== 'fulfilled') continue
      const write = writes[i]!
      switch (outcome.value.kind) {
        case 'applied':
          this.believed[write.shard] = write.next
          this.counters.eventsWritten += write.entries.length
          break
        case 'other-cursor':
          this.believed[write.shard] = outcome.value.stored
          resyncReason ??= outcome.value.reason
          break
        case 'abandoned':
          abandoned = true
      }
    }
    if (resyncReason !== null) return this.resync(this.believed, resyncReason)
    if (abandoned) return
    if (meta !== null) this.acknowledge(meta)
    this.crash.hit('after-ack')
  }

  /**
   * Writes one shard's batch with its cursor, retrying until Redis gives a definite answer. A
   * failed command may or may not have run, so after an error the stored cursor decides: still
   * ours -> not applied, retry; equal to this batch's -> applied; anything else -> resync.
   */
  private async commitShard(write: ShardWrite): Promise<ShardOutcome> {
    let failures = 0
    let checkFirst = false
    for (;;) {
      try {
        await this.sink.whenReady()
        if (checkFirst) {
          const stored = await this.sink.readCursor(write.cursorKey)
          if (stored !== write.expected) return this.settle(write, stored, 'cursor changed while Redis was unreachable')
        }
        this.crash.hit('before-write')
        const startedMs = performance.now()
        const reply = this.sink.write(write)
        this.crash.hit('mid-batch')
        const outcome = await this.answered(reply, write)
        this.writeFaults.end('redis writes succeed again')
        this.onWriteAnswered?.(performance.now() - startedMs)
        this.crash.hit('after-write-before-ack')
        if (outcome.kind === 'applied') return { kind: 'applied' }
        if (outcome.kind === 'stream-full') {
          if (await this.streamFullWait!.wait(write.shard, outcome, () => this.queue.isClosed)) continue
          this.abandonWhileFull(write)
          return { kind: 'abandoned' }
        }
        if (outcome.kind === 'cursor-backwards') {
          throw new IngestorError(IngestorErrorCode.CursorBackwards, `refused to move cursor ${write.cursorKey} back from ${outcome.stored} to ${write.next}; nothing was written`, {
            stored: outcome.stored,
            next: write.next,
          })
        }
        this.counters.casMismatches++
        return this.settle(write, outcome.stored, 'stored cursor differs from ours (Redis lost writes, or another ingestor writes these keys)')
      } catch (err) {
        if (err instanceof IngestorError) throw err // our own refusal above, not a Redis failure
        // Wrong credentials or a missing ACL permission never heal: end the run (ExitCode.Config).
        const fatal = redisConfigError(err)
        if (fatal !== null) throw fatal
        this.counters.redisErrors++
        this.writeFaults.begin({ err: { message: (err as Error).message }, key: write.cursorKey, expected: write.expected, next: write.next }, 'redis write failed; relay paused until it succeeds')
        await sleep(exponentialDelayMs(this.options.redisBackoff, failures++))
        checkFirst = true
      }
    }
  }

  /**
   * The write's reply. A Redis that hangs (SIGSTOP, a long blocking command, a half-open
   * connection) answers nothing and closes nothing: after --ready-write-timeout without an answer
   * the fault is logged (and "still" lines follow) while the write keeps waiting; whether it ran
   * is decided by the cursor as for any failed write (I5).
   */
  private async answered<T>(reply: Promise<T>, write: ShardWrite): Promise<T> {
    const timeoutMs = this.options.readyWriteTimeoutMs
    const overdue = setTimeout(() => {
      this.writeFaults.begin({ key: write.cursorKey, timeoutMs, queueFrames: this.queue.frames }, `redis has not answered a write for ${timeoutMs / 1000} s; relay paused until it does`)
    }, timeoutMs)
    overdue.unref()
    try {
      return await reply
    } finally {
      clearTimeout(overdue)
    }
  }

  /** Stopping while the stream is full: this write and everything queued are given up; the stored cursor still matches the stream. */
  private abandonWhileFull(write: ShardWrite): void {
    this.logger.warn(
      { shard: write.shard, unwrittenEntries: write.entries.length, queuedFrames: this.queue.frames, storedCursor: write.expected },
      'stopping while the stream is full: unwritten frames are fetched again from the stored cursor on the next run',
    )
    this.abandon()
  }

  /** The stored cursor is not what this write expected: either the write already happened, or another cursor is there. */
  private settle(write: ShardWrite, stored: string, reason: string): ShardOutcome {
    if (stored === write.next) {
      this.counters.casAlreadyApplied++
      return { kind: 'applied' }
    }
    return { kind: 'other-cursor', stored, reason }
  }

  /** Every shard of the write was applied. */
  private acknowledge(meta: WriteMeta): void {
    this.counters.batchesWritten++
    if (meta.lastTimeMs !== null) this.lastEventTimeMs = meta.lastTimeMs
    for (const [type, { events, bytes }] of meta.byType) addTally(this.writtenByType, type, events, bytes)
    this.lastAckAtMs = Date.now()
    this.lastWriteLagMs = Math.max(0, this.lastAckAtMs - meta.lastFrame.receivedAtUs / 1000)
    this.noteWritten(meta.lastFrame)
  }

  /** Frames up to `last` need no more work: nothing waits unless frames arrived after it. */
  private noteWritten(last: QueuedFrame): void {
    this.pendingSinceUs = last === this.lastEnqueued ? null : last.receivedAtUs
  }

  /**
   * Drops everything queued and restarts the relay from the cursors Redis actually holds (raw,
   * index = shard): from the lowest, each shard skipping what it has.
   */
  private resync(storedRaw: readonly string[], reason: string): void {
    const stored = parseStoredCursors(storedRaw, this.shardCursorKeys)
    this.counters.resyncs++
    const dropped = this.dropUnwritten()
    const storedField = storedRaw.length === 1 ? storedRaw[0] : storedRaw
    this.logger.warn({ reason, stored: storedField, position: this.tracker.position, dropped }, 'resynchronising: restarting the relay from the stored cursor')
    this.believed = [...storedRaw]
    this.shardFloors = stored
    this.cursorMayGoLower = false // a new FutureCursor (if the relay still says so) allows it again
    if (stored.includes(null) && this.startPosition !== null) {
      // No cursor key at all: not one write of this run survived there (each write sets it), so
      // that stream lacks everything since our start position; a live tail would skip all of that.
      this.logger.warn({ from: this.startPosition }, 'Redis has no cursor any more: restarting from where this run started')
    }
    this.tracker.reset(lowestCursor(stored.map((cursor) => cursor ?? this.startPosition)))
    this.awaitingConnection = true
    this.maybeResume()
    this.client?.reconnect(`resync to cursor ${lowestCursor(stored) ?? 'none'}`)
  }

  /** Drops every frame not yet written (a new epoch: batches decoding now are dropped by the writer); returns how many. */
  private dropUnwritten(): number {
    this.epoch++
    const dropped = this.queue.clear() + this.decoded.clear().reduce((sum, batch) => sum + batch.frames.length, 0)
    this.counters.framesRequeued += dropped
    // The dropped frames are received again; until then nothing waits here.
    this.pendingSinceUs = null
    this.lastEnqueued = null
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
    await this.writing.catch(() => undefined)
    const idle = (): boolean => this.queue.frames === 0 && this.decoded.size === 0 && !this.awaitingConnection
    if (!idle()) return
    const epoch = this.epoch
    const stored = await Promise.all(this.shardCursorKeys.map((key) => this.sink.readCursor(key)))
    // Anything that happened meanwhile (a write, a resync, a relay switch) settles it its own way.
    if (epoch !== this.epoch || !idle() || stored.every((raw, shard) => raw === this.believed[shard])) return
    this.counters.casMismatches++
    this.resync(stored, 'Redis came back holding another cursor (it lost acknowledged writes)')
  }

  /**
   * Relay failover (relay-failover.ts); the caller has closed the old relay's client. Frames not
   * yet written came from the old relay: they are dropped (fetched again from its cursor when it
   * is used again), never written against another relay's cursor. The write in flight finishes
   * against the old keys; then the new relay's cursor keys are read and become the CAS bases.
   * Frames are accepted again from the next onRelayOpen(). Resolves with the new relay's stored
   * cursor, the lowest of its shards' (null: none, its live tail).
   */
  async switchRelay(cursorKey: string): Promise<{ stored: number | null; dropped: number }> {
    this.awaitingConnection = true
    const dropped = this.dropUnwritten()
    this.maybeResume()
    await this.writing.catch(() => undefined) // a failing write ends the run through loops, not here
    const keys = this.sink.cursorKeys(cursorKey)
    const raw = await this.readCursorsRetrying(cursorKey)
    const storedByShard = parseStoredCursors(raw, keys)
    const stored = lowestCursor(storedByShard)
    this.cursorKey = cursorKey
    this.shardCursorKeys = keys
    this.believed = raw
    this.shardFloors = storedByShard
    this.tracker.reset(stored)
    this.startPosition = stored
    this.goLive = false
    this.cursorMayGoLower = false
    this.consecutiveBad = 0
    return { stored, dropped }
  }

  /** Reads a relay's cursor keys, waiting out a Redis outage like a write does; configuration errors are thrown. */
  private async readCursorsRetrying(cursorKey: string): Promise<string[]> {
    for (let failures = 0; ; failures++) {
      try {
        await this.sink.whenReady()
        return await this.sink.readCursors(cursorKey)
      } catch (err) {
        const fatal = redisConfigError(err)
        if (fatal !== null) throw fatal
        if (this.queue.isClosed) throw err
        await sleep(exponentialDelayMs(this.options.redisBackoff, failures))
      }
    }
  }
  /**
   * A relay answers a cursor with events after it (some resend the cursor's own event). One
   * that starts below it has another seq space: Go relays go live silently on a future cursor
   * instead of sending FutureCursor. Skipping is still right (we cannot tell new events from
   * old ones by seq), but an operator must know, or the ingestor will look alive and write nothing.
   */
  private noteBelowCursorOnConnect(seq: number, position: number): void {
    this.counters.belowCursorOnConnect++
    this.logger.error(
      { seq, cursor: position },
      'GAP WARNING: the relay started below our cursor: it may have reset its seqs (Go relays go live silently on a future cursor). ' +
        'Frames at or below our cursor are skipped; if this relay really restarted its seqs, restart the ingestor with --cursor 0 or a new --cursor-key',
    )
  }
}

function addTally(tallies: Map<string, { events: number; bytes: number }>, type: string, events: number, bytes: number): void {
  const tally = tallies.get(type)
  if (tally === undefined) tallies.set(type, { events, bytes })
  else {
    tally.events += events
    tally.bytes += bytes
  }
}

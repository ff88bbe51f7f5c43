import { subscribeReposUrl } from '../client/subscribe-repos-url.js'
import { RelayClient, type RelayClientOptions, type RelayCloseEvent, type RelayOpenEvent } from '../client/relay-client.js'
import { BoundedQueue } from '../common/bounded-queue.js'
import { redactUrl, silentLogger, type Logger } from '../common/logger.js'
import { systemTimers, type TimerHandle, type Timers } from '../common/timers.js'
import { decodeFrame } from '../protocol/frame.js'
import type { FixtureManifest } from '../fixture-file/index.js'
import { Continuity, type ContinuityCounts, type ControlFrame, type Gap } from './continuity.js'
import { RotatingWriter } from './rotating-writer.js'
import { WaitingLog } from './waiting-log.js'

export interface RecorderOptions {
  /** Relay as a host (`bsky.network`), a ws(s) origin or the full xrpc URL. */
  relay: string
  /** Fixture file; compression by extension (`.gz`, `.zst`, none). With rotation: NAME.000.gz, ... */
  out: string
  /** Start after this seq; null/undefined = live tail. */
  cursor?: number | null
  /** Stop after this many recorded frames. */
  limit?: number
  /** Stop after this many seconds. */
  durationSec?: number
  /** Start a new file after this many MB (10^6 bytes) on disk. */
  rotateMb?: number
  /** gzip/zstd level; default 1: live capture must keep up with the relay, and level 1 is ~2.4x faster than 6. */
  compressionLevel?: number
  logger?: Logger
  /** Clock and timers for the flush, --duration and "nothing recorded" lines (tests pass a fake clock). */
  timers?: Timers
  /** Relay client tuning (tests use short timeouts and seeded jitter). */
  relayClient?: Pick<RelayClientOptions, 'stallTimeoutMs' | 'pingIntervalMs' | 'backoff' | 'random' | 'maxPayloadBytes'>
}

export type RecorderState = 'recording' | 'stopping' | 'stopped' | 'failed'

export interface RecorderStatus {
  state: RecorderState
  stopReason: string | null
  /** Redacted relay URL. */
  relay: string
  connected: boolean
  files: string[]
  /** Frames written to the recording. */
  frames: number
  /** Sum of the recorded frames' sizes (uncompressed). */
  frameBytes: number
  /** Bytes on disk over all files (lags the compressor until a flush). */
  fileBytes: number
  firstSeq: number | null
  currentSeq: number | null
  /** Now minus the `time` of the newest recorded event, when it has one. */
  lagMs: number | null
  elapsedMs: number
  gaps: number
  reconnects: number
  /** Frames received but not yet handed to the writer. */
  queuedFrames: number
  continuity: ContinuityCounts
}

export interface RecorderSummary extends RecorderStatus {
  manifests: FixtureManifest[]
}

export interface RecorderHandle {
  status(): RecorderStatus
  /** Stops reading, writes what was received, finalises the file(s). Idempotent. */
  stop(reason?: string): Promise<RecorderSummary>
  /** Settles when the recording ended (limit, duration, stop()) or failed (disk error). */
  done: Promise<RecorderSummary>
}

interface QueuedFrame {
  bytes: Uint8Array
  timeUs: number
  gap: Gap | null
}

/**
 * Bound of the queue between the socket and the writer. Overflow policy (common/bounded-queue.ts):
 * pause the relay socket (TCP backpressure); frames ws had already parsed still enter, so the
 * overshoot is bounded by ws's read buffer. Resumed once the queue is down to a quarter.
 */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024
const RESUME_AT = 1 / 4
const DEFAULT_COMPRESSION_LEVEL = 1
/** kill -9 loses at most this much recording. */
const FLUSH_INTERVAL_MS = 1000

export async function startRecorder(options: RecorderOptions): Promise<RecorderHandle> {
  const writer = await RotatingWriter.open({
    out: options.out,
    rotateBytes: options.rotateMb === undefined ? null : Math.max(1, Math.round(options.rotateMb * 1_000_000)),
    source: redactUrl(subscribeReposUrl(options.relay)),
    compressionLevel: options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL,
    meta: { recorder: { cursor: options.cursor ?? null, startedAt: new Date().toISOString() } },
  })
  const recorder = new Recorder(options, writer)
  recorder.start()
  return { status: () => recorder.status(), stop: (reason) => recorder.stop(reason), done: recorder.done }
}

class Recorder {
  readonly done: Promise<RecorderSummary>
  private resolveDone!: (summary: RecorderSummary) => void
  private rejectDone!: (err: unknown) => void
  private readonly url: string
  private readonly logger: Logger
  private readonly client: RelayClient
  private readonly continuity: Continuity
  private readonly timers: Timers
  private readonly waitingLog: WaitingLog
  private readonly startedAtMs: number
  private state: RecorderState = 'recording'
  private stopReason: string | null = null
  private stopping: Promise<RecorderSummary> | null = null
  private failure: unknown = null
  private connected = false

  // Bounded in bytes alone: memory is what the bound protects, and frame sizes vary a thousandfold.
  private readonly queue = new BoundedQueue<QueuedFrame>({
    maxItems: Number.POSITIVE_INFINITY,
    bytes: { max: MAX_QUEUED_BYTES, sizeOf: (frame) => frame.bytes.length },
    lowWater: RESUME_AT,
  })
  private pausedForQueue = false
  private pumpRunning = false
  private pumpDone: Promise<void> = Promise.resolve()

  private accepted = 0
  private frames = 0
  private frameBytes = 0
  private gaps = 0
  private firstSeq: number | null = null
  private newestTimedFrame: Uint8Array | null = null
  private flushedFrames = 0
  private flushing: Promise<void> | null = null
  private flushTimer: TimerHandle | null = null
  private durationTimer: TimerHandle | null = null

  constructor(
    private readonly options: RecorderOptions,
    private readonly writer: RotatingWriter,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve
      this.rejectDone = reject
    })
    this.done.catch(() => undefined) // callers may only use stop(); a failure is still reported there
    this.url = subscribeReposUrl(options.relay)
    this.timers = options.timers ?? systemTimers
    this.startedAtMs = this.timers.now()
    const baseLogger = options.logger ?? silentLogger
    this.logger = baseLogger.child({ component: 'recorder' })
    this.continuity = new Continuity(options.cursor ?? null)
    this.waitingLog = new WaitingLog({
      logger: this.logger,
      timers: this.timers,
      limit: options.limit,
      recorded: () => this.accepted,
      describe: () => ({ connected: this.connected, cursor: this.continuity.resumeCursor() }),
    })
    this.client = new RelayClient({
      ...options.relayClient,
      url: this.url,
      cursor: () => this.continuity.resumeCursor(),
      onFrame: (bytes, receivedAtUs) => this.onFrame(bytes, receivedAtUs),
      // The client adds its own `component`: given ours, every line of it would carry two.
      logger: baseLogger,
    })
    this.client.on('open', (event: RelayOpenEvent) => {
      this.connected = true
      this.continuity.onOpen(event.cursor)
    })
    this.client.on('close', (event: RelayCloseEvent) => {
      this.connected = false
      if (event.willReconnect) this.logger.info({ resumeCursor: this.continuity.resumeCursor(), delayMs: event.delayMs }, 'will resume the recording')
    })
  }

  start(): void {
    this.client.start()
    this.scheduleFlush()
    this.waitingLog.start()
    if (this.options.durationSec !== undefined) {
      this.durationTimer = this.timers.setTimeout(() => void this.stop('duration'), this.options.durationSec * 1000)
    }
  }

  status(): RecorderStatus {
    return {
      state: this.state,
      stopReason: this.stopReason,
      relay: redactUrl(this.url),
      connected: this.connected,
      files: [...this.writer.files],
      frames: this.frames,
      frameBytes: this.frameBytes,
      fileBytes: this.writer.bytesWritten,
      firstSeq: this.firstSeq,
      currentSeq: this.continuity.seq,
      lagMs: this.lagMs(),
      elapsedMs: this.timers.now() - this.startedAtMs,
      gaps: this.gaps,
      reconnects: this.client.stats.reconnects,
      queuedFrames: this.queue.size,
      continuity: structuredClone(this.continuity.counts),
    }
  }

  stop(reason = 'stopped'): Promise<RecorderSummary> {
    if (this.stopping === null) {
      this.stopping = this.finish(reason)
      this.stopping.catch(() => undefined) // internal stops (limit, duration, failure) report through `done`
    }
    return this.stopping
  }

  private onFrame(bytes: Uint8Array, timeUs: number): void {
    if (this.stopping !== null) return
    const limit = this.options.limit
    if (limit !== undefined && this.accepted >= limit) return
    const verdict = this.continuity.observe(bytes)
    if (!verdict.record) return
    if (verdict.control !== undefined) this.logControl(verdict.control)
    this.waitingLog.noteFrame()
    if (verdict.seq !== undefined) {
      this.firstSeq ??= verdict.seq
      this.newestTimedFrame = bytes
    }
    this.accepted++
    if (this.queue.push({ bytes, timeUs, gap: verdict.gap }) && !this.pausedForQueue) {
      this.pausedForQueue = true
      this.client.pause()
    }
    this.startPump()
    if (limit !== undefined && this.accepted >= limit) void this.stop('limit')
  }

  private startPump(): void {
    if (this.pumpRunning) return
    this.pumpRunning = true
    this.pumpDone = this.pump()
  }

  /** Moves queued frames into the writer in order; only awaits when the writer asks for it. */
  private async pump(): Promise<void> {
    try {
      for (let item = this.queue.shift(); item !== undefined; item = this.queue.shift()) {
        if (item.gap !== null) this.recordGap(item.gap)
        const more = this.writer.write({ timeUs: item.timeUs, bytes: item.bytes })
        this.frames++
        this.frameBytes += item.bytes.length
        if (!more) await this.writer.drain()
        if (this.writer.rotationCheckDue && (await this.writer.checkRotation())) {
          this.logger.info({ file: this.writer.files.at(-1), files: this.writer.files.length }, 'rotated to a new file')
        }
        if (this.pausedForQueue && this.queue.isBelowLowWater) {
          this.pausedForQueue = false
          this.client.resume()
        }
      }
    } catch (err) {
      this.fail(err)
    } finally {
      // Synchronously with the loop's end: a frame arriving next starts a new pump.
      this.pumpRunning = false
    }
  }

  /** Info and error frames are recorded like any other, and logged as the ingestor logs them. */
  private logControl(control: ControlFrame): void {
    const fields = { [control.kind]: control.name, message: control.message, lastSeq: this.continuity.seq }
    if (control.kind === 'info') {
      if (control.name === 'OutdatedCursor') this.logger.warn(fields, 'relay says our cursor is older than its window (OutdatedCursor): it sends what it still holds')
      else this.logger.info(fields, 'relay info frame')
    } else if (control.name === 'FutureCursor') {
      this.logger.warn(fields, 'relay says our cursor is in its future (FutureCursor): the next connection goes live, the jump is reported as a gap')
    } else {
      this.logger.warn(fields, 'relay sent an error frame; it will close the connection and we resume from our cursor')
    }
  }

  private recordGap(gap: Gap): void {
    this.gaps++
    this.writer.addGap(gap)
    this.logger.warn({ gap }, 'gap in the recording: events the relay did not deliver')
  }

  private scheduleFlush(): void {
    this.flushTimer = this.timers.setTimeout(() => {
      this.flush()
      if (this.stopping === null) this.scheduleFlush()
    }, FLUSH_INTERVAL_MS)
  }

  private flush(): void {
    if (this.flushing !== null || this.frames === this.flushedFrames) return
    const frames = this.frames
    this.flushing = this.writer
      .flush()
      .then(() => {
        this.flushedFrames = frames
      })
      .catch((err: unknown) => this.fail(err))
      .finally(() => (this.flushing = null))
  }

  private async finish(reason: string): Promise<RecorderSummary> {
    this.state = 'stopping'
    this.stopReason ??= reason
    this.clearTimers()
    try {
      await this.client.close()
      while (this.pumpRunning) await this.pumpDone
      while (this.flushing !== null) await this.flushing
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the write failure as the writer rejected with it
      if (this.failure !== null) throw this.failure
      const manifests = await this.writer.close()
      this.state = 'stopped'
      const summary: RecorderSummary = { ...this.status(), manifests }
      this.logger.info({ reason, frames: summary.frames, files: summary.files, gaps: summary.gaps, lastSeq: summary.currentSeq }, 'recording finished')
      this.resolveDone(summary)
      return summary
    } catch (err) {
      this.failure ??= err
      this.state = 'failed'
      // Best effort: finalise what the writer still can; the error is what gets reported.
      await this.writer.close().catch(() => undefined)
      this.rejectDone(this.failure)
      throw this.failure
    }
  }

  /** A write failure (disk full, permissions): stop reading, keep what is on disk, report. */
  private fail(err: unknown): void {
    if (this.failure !== null) return
    this.failure = err
    this.stopReason = 'error'
    this.logger.error({ err }, 'recording failed')
    void this.stop('error')
  }

  private clearTimers(): void {
    if (this.flushTimer !== null) this.timers.clearTimeout(this.flushTimer)
    if (this.durationTimer !== null) this.timers.clearTimeout(this.durationTimer)
    this.flushTimer = null
    this.durationTimer = null
    this.waitingLog.stop()
  }

  private lagMs(): number | null {
    if (this.newestTimedFrame === null) return null
    try {
      const time = decodeFrame(this.newestTimedFrame).body.time
      const ms = typeof time === 'string' ? Date.parse(time) : Number.NaN
      return Number.isNaN(ms) ? null : this.timers.now() - ms
    } catch {
      return null
    }
  }
}

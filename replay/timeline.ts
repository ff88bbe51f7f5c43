import type { TimerHandle, Timers } from '../common/timers.js'
import type { Logger } from '../common/logger.js'
import type { FaultScheduler } from './fault-scheduler.js'
import { monotonicTimers, RATE_TICK_MS, type Pacer } from './pacer.js'
import { RateMeter } from './rate-meter.js'
import type { FrameSource, SourceFrame } from './frame-source.js'
import type { ReplayRate } from './types.js'
import type { RetainedWindow } from './window.js'

/** Frames published per timer callback at most, so sockets and HTTP control stay responsive. */
const MAX_BATCH = 2048
/** Longest sleep while waiting for a frame due in original/speed mode (then re-checks). */
const MAX_SLEEP_MS = 100

export interface TimelineHost {
  /** Frames were published (or the timeline finished): clients should send. */
  published(): void
  /** Frames every client can still take before owing too much (max mode; stuck clients not counted); Infinity with no clients. */
  room(): number
}

/** Told of every frame the timeline publishes, after the window took it (the repo index behind the sync endpoints). */
export interface PublishObserver {
  published(frame: SourceFrame): void
}

type State = 'idle' | 'running' | 'paused' | 'finished' | 'closed'

/** The one pending wake-up: a turn of the event loop, or a delay on the pacing timers. */
type Wakeup = { immediate: NodeJS.Immediate } | { timeout: TimerHandle }

/**
 * The single live timeline: pulls frames from the fixture source when the pacer allows,
 * publishes them into the retained window and fires frame-triggered faults. One timer at a
 * time (bursts by elapsed time, never one setTimeout per frame).
 */
export class Timeline {
  framesPublished = 0
  private state: State = 'idle'
  private pausedBeforeStart = false
  private timer: Wakeup | null = null
  private waitingFor: 'room' | 'source' | null = null
  /** Work the timeline waits for before publishing the next frame (hold). */
  private holds = 0
  private readonly meter: RateMeter

  constructor(
    private readonly source: FrameSource,
    private readonly pacer: Pacer,
    private readonly window: RetainedWindow,
    private readonly faults: FaultScheduler,
    private readonly host: TimelineHost,
    private readonly observer: PublishObserver,
    private readonly logger: Logger,
    /** Delays and the clock of the achieved rate; the pacer is built on the same clock. Tests pass fake ones. */
    private readonly timers: Timers = monotonicTimers,
  ) {
    this.meter = new RateMeter(undefined, () => timers.now())
    source.onReadable = () => {
      if (this.waitingFor === 'source') this.schedule(0)
    }
  }

  get started(): boolean {
    return this.state !== 'idle'
  }

  get finished(): boolean {
    return this.state === 'finished'
  }

  get paused(): boolean {
    return this.state === 'paused' || (this.state === 'idle' && this.pausedBeforeStart)
  }

  get rate(): ReplayRate {
    return this.pacer.rate
  }

  achievedPerSecond(): number {
    return this.meter.perSecond(this.framesPublished)
  }

  start(): void {
    if (this.state !== 'idle') return
    if (this.pausedBeforeStart) {
      this.state = 'paused'
      return
    }
    this.state = 'running'
    this.pacer.reanchor()
    this.faults.start()
    this.faults.firePublished(this.framesPublished)
    this.meter.record(this.framesPublished)
    this.schedule(0)
  }

  /** Before start: start() will leave it paused until resume(). */
  pause(): void {
    if (this.state === 'idle') this.pausedBeforeStart = true
    if (this.state !== 'running') return
    this.state = 'paused'
    this.cancel()
  }

  resume(): void {
    if (this.state === 'idle') {
      this.pausedBeforeStart = false
      this.start()
      return
    }
    if (this.state !== 'paused') return
    this.faults.start()
    this.faults.firePublished(this.framesPublished)
    this.state = 'running'
    this.pacer.reanchor()
    this.schedule(0)
  }

  setRate(rate: ReplayRate): void {
    this.pacer.setRate(rate)
    if (this.state === 'running') {
      this.cancel()
      this.schedule(0)
    }
  }

  /**
   * Publishes nothing more until `work` settles: a sync-reset makes its repo's new commit
   * (asynchronous signing) between two frames, whatever the rate, and the timeline does not move
   * past that point meanwhile (nor finish).
   */
  hold(work: Promise<unknown>): void {
    this.holds++
    const release = (): void => {
      if (--this.holds === 0) this.schedule(0)
    }
    work.then(release, release)
  }

  /** A client made progress (max mode waits for room). */
  clientProgress(): void {
    if (this.waitingFor === 'room') this.schedule(0)
  }

  close(): void {
    this.state = 'closed'
    this.cancel()
    this.source.close()
    this.faults.close()
  }

  private schedule(ms: number): void {
    if (this.state !== 'running' || this.timer !== null) return
    this.waitingFor = null
    // No delay is a turn of the event loop (sockets and HTTP control run first), not time: it
    // stays setImmediate whatever the timers, so fake timers pace without stalling max mode.
    this.timer = ms <= 0 ? { immediate: setImmediate(this.tick) } : { timeout: this.timers.setTimeout(this.tick, ms) }
  }

  private cancel(): void {
    if (this.timer === null) return
    if ('immediate' in this.timer) clearImmediate(this.timer.immediate)
    else this.timers.clearTimeout(this.timer.timeout)
    this.timer = null
  }

  private readonly tick = (): void => {
    this.timer = null
    if (this.state !== 'running') return
    const mode = this.pacer.rate.mode
    const timed = mode === 'speed' || mode === 'original'
    let budget = this.pacer.allowance()
    let room = mode === 'max' ? this.host.room() : Number.POSITIVE_INFINITY
    const now = this.timers.now()
    let published = 0
    let nextDueMs = Number.POSITIVE_INFINITY
    while (this.holds === 0 && published < MAX_BATCH && budget >= 1 && room >= 1) {
      const frame = this.source.peek()
      if (frame === undefined) break
      if (timed) {
        const due = this.pacer.dueMs(frame)
        if (due > now) {
          nextDueMs = due
          break
        }
      }
      this.source.take()
      this.window.push(frame.bytes, frame.seq)
      this.observer.published(frame)
      this.framesPublished++
      published++
      budget--
      room--
      if (this.framesPublished >= this.faults.nextFrameTrigger) this.faults.firePublished(this.framesPublished)
    }
    this.pacer.spend(published)
    this.meter.record(this.framesPublished)
    if (published > 0) this.host.published()
    if (this.state !== 'running' || this.holds > 0) return
    if (this.source.done) {
      this.state = 'finished'
      this.logger.info({ frames: this.framesPublished, failed: this.source.failure?.message }, 'fixture finished: clients connecting from now on need cursor=0 (or an older cursor) to get frames')
      this.host.published()
      return
    }
    if (published >= MAX_BATCH) this.schedule(0)
    else if (this.source.peek() === undefined) this.waitingFor = 'source'
    else if (mode === 'rate') this.schedule(RATE_TICK_MS)
    else if (timed) this.schedule(Math.min(MAX_SLEEP_MS, Math.max(1, nextDueMs - this.timers.now())))
    // Clients may have drained synchronously inside published(): ask again before sleeping.
    else if (this.host.room() < 1) this.waitingFor = 'room'
    else this.schedule(0)
  }
}

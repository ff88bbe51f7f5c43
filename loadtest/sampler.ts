import type { ReplayHandle } from '../replay/index.js'
import { readHealth } from './ingestor-health.js'
import { LogHistogram, type LagSummary } from './percentiles.js'
import type { ProcStats } from './proc-stats.js'
import type { PublishClock } from '../harness/publish-clock.js'
import type { StepObservation } from './rate-search.js'

/** One second of the run. Rates are per second over the sample's interval; lag covers entries that landed in it. */
export interface Sample {
  /** Seconds since the load started. */
  t: number
  /** Rate asked of the replay server (null while paused to drain). */
  targetRate: number | null
  offeredPerSec: number
  /** Entries the ingestor wrote (its /health counters), null when /health did not answer. */
  ingestPerSec: number | null
  lagCount: number
  lagP50Ms: number | null
  lagP95Ms: number | null
  lagP99Ms: number | null
  lagMaxMs: number | null
  /** Age of the oldest published frame not yet in the stream (0: none waiting). */
  pendingMs: number | null
  rssMb: number | null
  cpuPercent: number | null
  queueFrames: number | null
  /** Relay reconnects of the ingestor so far. */
  reconnects: number | null
}

/**
 * Turns entries observed in the stream and once-a-second readings (replay status, ingestor
 * /health, /proc) into Samples, and keeps the lag of the current step and of the whole run.
 * A step's first `warmupMs` are left out of its lag (rate change, JIT); per-second lag is not.
 */
export class Sampler {
  readonly overall = new LogHistogram()
  private readonly second = new LogHistogram()
  private readonly step = new LogHistogram()
  private stepSamples: Sample[] = []
  private stepFromMs = 0
  private stepPublished = 0
  /** End of the step's warm-up, performance.now() ms (samples); its epoch ms end is the last entry of warmups. */
  private warmupEndsPerfMs = 0
  /** Every step's warm-up, epoch ms, in order (one per step: bounded by the plan); the last is the current step's. */
  private readonly warmups: { from: number; to: number }[] = []
  /** Entries whose send time had left the publish clock's ring (lag unknown). */
  lagUnmeasured = 0
  private lastAtMs = 0
  private lastPublished = 0
  /** The ingestor has written nothing before the load starts (the replay is paused until then). */
  private lastWritten: number | null = 0
  /** The load's time zero (samples' t). */
  readonly startMs = performance.now()
  target: number | null = null

  constructor(
    private readonly replay: ReplayHandle,
    private readonly clock: PublishClock,
    private readonly lastObservedSeq: () => number | null,
    /** The last seq up to `head` that must reach the stream (undecodable frames never do). */
    private readonly lastExpectedSeq: (head: number) => number | null,
    private readonly healthPort: number,
    private readonly proc: ProcStats,
  ) {
    this.lastAtMs = this.startMs
  }

  /** An entry reached the stream at `atMs` (epoch ms). */
  recordEntry(seq: number, atMs: number): void {
    if (!Number.isSafeInteger(seq)) return // no seq, no send time (the tally counts it as unexpected)
    const sentMs = this.clock.sentAt(seq)
    if (sentMs === null) {
      this.lagUnmeasured++
      return
    }
    const lag = atMs - sentMs
    this.second.record(lag)
    if (sentMs >= (this.warmups.at(-1)?.to ?? 0)) this.step.record(lag)
    if (!this.inWarmup(sentMs)) this.overall.record(lag)
  }

  /** Sent during some step's warm-up (entries of an earlier step may still arrive in this one). */
  private inWarmup(sentMs: number): boolean {
    for (let i = this.warmups.length - 1; i >= 0; i--) {
      const warmup = this.warmups[i]!
      if (sentMs >= warmup.to) return false // after this one, before the next began
      if (sentMs >= warmup.from) return true
    }
    return false
  }

  beginStep(target: number, warmupMs: number): void {
    this.target = target
    this.step.reset()
    this.stepSamples = []
    this.stepFromMs = performance.now()
    this.stepPublished = this.replay.status().framesPublished
    const nowMs = Date.now()
    this.warmups.push({ from: nowMs, to: nowMs + warmupMs })
    this.warmupEndsPerfMs = this.stepFromMs + warmupMs
  }

  /** What the step since beginStep() showed (warm-up seconds left out). */
  endStep(): StepObservation {
    const steady = this.stepSamples.filter((s) => this.startMs + s.t * 1000 > this.warmupEndsPerfMs)
    const seconds = (performance.now() - this.stepFromMs) / 1000
    return {
      targetRate: this.target ?? 0,
      offeredPerSec: (this.replay.status().framesPublished - this.stepPublished) / Math.max(seconds, 0.001),
      lag: this.step.summary(),
      lagP99BySecond: steady.map((s) => s.lagP99Ms),
      pendingMs: this.pendingMs() ?? 0,
    }
  }

  async sample(): Promise<Sample> {
    const [health, proc] = await Promise.all([readHealth(this.healthPort), this.proc.read()])
    const now = performance.now()
    const seconds = Math.max((now - this.lastAtMs) / 1000, 0.001)
    const published = this.replay.status().framesPublished
    const lag: LagSummary = this.second.summary()
    const sample: Sample = {
      t: Math.round((now - this.startMs) / 100) / 10,
      targetRate: this.target,
      offeredPerSec: Math.round((published - this.lastPublished) / seconds),
      ingestPerSec: health === null || this.lastWritten === null ? null : Math.round((health.eventsWritten - this.lastWritten) / seconds),
      lagCount: lag.count,
      lagP50Ms: lag.p50Ms,
      lagP95Ms: lag.p95Ms,
      lagP99Ms: lag.p99Ms,
      lagMaxMs: lag.maxMs,
      pendingMs: this.pendingMs(),
      rssMb: proc.rssMb,
      cpuPercent: proc.cpuPercent,
      queueFrames: health?.queueFrames ?? null,
      reconnects: health?.reconnects ?? null,
    }
    this.second.reset()
    this.lastAtMs = now
    this.lastPublished = published
    if (health !== null) this.lastWritten = health.eventsWritten
    this.stepSamples.push(sample)
    return sample
  }

  /** How long the oldest published frame not yet in the stream has waited; null when unknown. */
  pendingMs(): number | null {
    const head = this.clock.headSeq
    const last = this.lastObservedSeq()
    const due = head === null ? null : this.lastExpectedSeq(head)
    if (due === null || (last !== null && last >= due)) return 0
    const sent = this.clock.sentAt(last === null ? Number.MIN_SAFE_INTEGER : last + 1)
    return sent === null ? null : Math.max(0, Date.now() - sent)
  }
}

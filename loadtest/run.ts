import { describeExit } from '../harness/ingestor-process.js'
import { sleep } from '../harness/wait.js'
import { MAX_RATE } from './profile.js'
import { ProcStats } from './proc-stats.js'
import { PublishClock } from '../harness/publish-clock.js'
import { judgeStep, RateSearch, type StepVerdict } from './rate-search.js'
import { isLocalRedis, startRig, type LoadtestRig } from './rig.js'
import { Sampler, type Sample } from './sampler.js'
import { StreamObserver } from './stream-observer.js'
import type { LoadtestConfig, LoadtestResult, StepRecord } from './types.js'

/** Where a running test is, for the progress bar. */
export interface Progress {
  elapsedSec: number
  totalSec: number
  sample: Sample
}

/** First probe of `--rate max`; the search doubles from here. */
const SEARCH_START = 1000
/** The search stops when the highest sustained and lowest failed rates are within 10%. */
const SEARCH_PRECISION = 0.1
const SEARCH_MIN_RATE = 50
/** Samples kept (one per second): 6 h. The CLI caps --duration below this. */
const MAX_SAMPLES = 6 * 3600 + 600

/**
 * One load test (docs/loadtest.md): the rig, then the steps of the plan with a sample every
 * second, then a drain and the stream check.
 */
export async function runLoadtest(config: LoadtestConfig, onSample: (progress: Progress) => void = () => {}, interrupt?: AbortSignal): Promise<LoadtestResult> {
  const startedAt = new Date().toISOString()
  const rig = await startRig(config)
  const lagClock = isLocalRedis(rig.redisUrl) ? 'redis' : 'observer'
  const clock = new PublishClock(rig.replay)
  let observer: StreamObserver | null = null
  try {
    const proc = new ProcStats(rig.ingestor.pid!)
    await proc.read() // CPU is a difference: the first reading is the baseline
    const sampler = new Sampler(
      rig.replay,
      clock,
      () => observer?.lastSeq ?? null,
      (head) => rig.tally.lastExpectedAtOrBelow(head),
      rig.healthPort,
      proc,
    )
    observer = await StreamObserver.start(rig.redisUrl, rig.stream, lagClock, ({ seq, atMs }) => {
      sampler.recordEntry(seq, atMs) // first: it brings the clock's head up to date
      rig.tally.record(seq, clock.headSeq)
    })
    const driver = new Driver(config, rig, sampler, () => observer?.error ?? null, onSample, interrupt)
    const outcome = await driver.run()
    const drainSeconds = await driver.drain(config.drainTimeoutSec)
    // Not stopping within its grace time is the ingestor's failure (SIGKILLed, reported), not ours.
    const exit = await rig.ingestor.stop().catch(() => rig.ingestor.exited)
    await observer.finish()
    clock.poll()
    const stream = rig.tally.result(rig.replay.status().headSeq)
    return buildResult(config, { startedAt, lagClock, rig, sampler, driver, outcome, drainSeconds, stream, ingestorExit: describeExit(exit), ingestorOk: exit.code === 0 })
  } finally {
    observer?.close()
    clock.stop()
    await rig.close()
  }
}

/** Runs the plan's steps, sampling every second. */
class Driver {
  readonly samples: Sample[] = []
  readonly steps: StepRecord[] = []
  private ticks = 0

  constructor(
    private readonly config: LoadtestConfig,
    private readonly rig: LoadtestRig,
    private readonly sampler: Sampler,
    private readonly observerError: () => Error | null,
    private readonly onSample: (progress: Progress) => void,
    /** Aborted (Ctrl-C): the load ends at the next second; the drain, the check and the report still happen. */
    private readonly interrupt?: AbortSignal,
  ) {}

  get interrupted(): boolean {
    return this.interrupt?.aborted === true
  }

  /** The load's time zero: the sampler's. */
  private get loadStartMs(): number {
    return this.sampler.startMs
  }

  /** Why the load stopped early (the ingestor died), or null. Search results for 'max'. */
  async run(): Promise<{ abort: string | null; search: RateSearch | null }> {
    const { config } = this
    try {
      if (config.rate === 'max') return { abort: null, search: await this.search() }
      const rates = config.profile?.rates ?? [config.rate as number]
      const stepSeconds = config.profile?.stepSeconds ?? config.durationSec
      for (const rate of rates) {
        const left = config.durationSec - this.elapsedSec()
        if (left < 1 || this.interrupted) break
        await this.step(rate, Math.min(stepSeconds, left))
      }
      return { abort: null, search: null }
    } catch (err) {
      if (err instanceof IngestorExited) return { abort: err.message, search: null }
      throw err
    }
  }

  private async search(): Promise<RateSearch> {
    const search = new RateSearch(SEARCH_START, { maxRate: MAX_RATE, minRate: SEARCH_MIN_RATE, precision: SEARCH_PRECISION })
    for (let rate = search.next(); rate !== null; rate = search.next()) {
      if (this.config.durationSec - this.elapsedSec() < this.config.stepSeconds || this.interrupted) break
      search.record(rate, await this.step(rate, this.config.stepSeconds))
      // Each probe starts from an empty backlog: a failed one must not count against the next.
      await this.drain(Math.max(this.config.stepSeconds, 10))
    }
    return search
  }

  private async step(rate: number, seconds: number): Promise<StepVerdict> {
    const { replay } = this.rig
    replay.setRate({ mode: 'rate', eventsPerSec: rate })
    // The ingestor's first seconds (JIT, decode workers starting) are slower than any later step's.
    const warmupSec = this.steps.length === 0 ? Math.min(5, seconds / 2) : Math.min(2, seconds / 4)
    this.sampler.beginStep(rate, warmupSec * 1000)
    replay.resume()
    const fromT = this.elapsedSec()
    const endMs = performance.now() + seconds * 1000
    while (performance.now() < endMs - 50 && !this.interrupted) {
      await this.tick()
      if (this.rig.ingestor.exit !== null) throw new IngestorExited(`the ingestor exited during the load (${describeExit(this.rig.ingestor.exit)})`)
    }
    const observed = this.sampler.endStep()
    const verdict = judgeStep(observed, this.config.maxLagMs)
    this.steps.push({
      targetRate: rate,
      fromT: Math.round(fromT * 10) / 10,
      toT: Math.round(this.elapsedSec() * 10) / 10,
      warmupSec: Math.round(warmupSec * 10) / 10,
      offeredPerSec: Math.round(observed.offeredPerSec),
      lag: observed.lag,
      sustained: verdict.sustained,
      reason: verdict.reason,
    })
    return verdict
  }

  /** Pauses the replay and samples until every published event is in the stream; the seconds it took, null on timeout. */
  async drain(timeoutSec: number): Promise<number | null> {
    this.rig.replay.pause()
    this.sampler.target = null
    const started = performance.now()
    while (this.sampler.pendingMs() !== 0) {
      if (this.rig.ingestor.exit !== null || performance.now() - started > timeoutSec * 1000) return null
      await this.tick()
    }
    return Math.round((performance.now() - started) / 100) / 10
  }

  /** Waits for the next whole second of the load, then samples. Seconds missed while this process was starved are skipped, not caught up (a burst of tiny intervals would only add noise). */
  private async tick(): Promise<void> {
    this.ticks = Math.max(this.ticks + 1, Math.ceil((performance.now() - this.loadStartMs) / 1000))
    await sleep(Math.max(0, this.loadStartMs + this.ticks * 1000 - performance.now()))
    const error = this.observerError()
    if (error !== null) throw error // reading the stream failed: Redis is gone
    const sample = await this.sampler.sample()
    if (this.samples.length < MAX_SAMPLES) this.samples.push(sample)
    this.onSample({ elapsedSec: this.elapsedSec(), totalSec: this.config.durationSec, sample })
  }

  elapsedSec(): number {
    return (performance.now() - this.loadStartMs) / 1000
  }
}

class IngestorExited extends Error {}

interface Finished {
  startedAt: string
  lagClock: 'redis' | 'observer'
  rig: LoadtestRig
  sampler: Sampler
  driver: Driver
  outcome: { abort: string | null; search: RateSearch | null }
  drainSeconds: number | null
  stream: LoadtestResult['summary']['stream']
  ingestorExit: string
  ingestorOk: boolean
}

function buildResult(config: LoadtestConfig, done: Finished): LoadtestResult {
  const { samples, steps } = done.driver
  const max = (pick: (s: Sample) => number | null): number | null => samples.reduce<number | null>((m, s) => (pick(s) === null ? m : Math.max(m ?? 0, pick(s)!)), null)
  const loadSteps = steps.reduce((sum, step) => sum + (step.toT - step.fromT), 0)
  const published = done.rig.replay.status().framesPublished
  const reasons: string[] = []
  if (done.driver.interrupted) reasons.push(`interrupted after ${Math.round(loadSteps)} s of load (the stream check covers what was published)`)
  if (done.outcome.abort !== null) reasons.push(done.outcome.abort)
  else if (!done.ingestorOk) reasons.push(`the ingestor did not stop cleanly (${done.ingestorExit})`)
  if (done.stream.lost > 0) reasons.push(`${done.stream.lost} events lost`)
  if (done.stream.duplicated > 0) reasons.push(`${done.stream.duplicated} events duplicated`)
  if (done.stream.unexpected > 0) reasons.push(`${done.stream.unexpected} unexpected entries`)
  if (done.drainSeconds === null && done.ingestorOk) reasons.push(`the ingestor did not catch up within ${config.drainTimeoutSec} s after the load`)

  let maxSustainableRate: number | null
  let generatorLimited = false
  if (done.outcome.search !== null) {
    maxSustainableRate = done.outcome.search.best
    generatorLimited = done.outcome.search.generatorLimited
    if (maxSustainableRate === null) reasons.push(`no rate was sustained (lag p99 < ${config.maxLagMs} ms) in the time given`)
  } else {
    const firstFailed = steps.findIndex((step) => !step.sustained)
    const sustained = firstFailed === -1 ? steps : steps.slice(0, firstFailed)
    maxSustainableRate = sustained.length === 0 ? null : Math.max(...sustained.map((s) => s.targetRate))
    if (firstFailed !== -1) {
      const failed = steps[firstFailed]!
      reasons.push(`${failed.targetRate}/s not sustained: ${failed.reason}`)
      generatorLimited = failed.reason?.includes('load generator') === true
    }
  }
  return {
    config,
    startedAt: done.startedAt,
    seed: done.rig.replay.status().seed,
    lagClock: done.lagClock,
    samples,
    steps,
    summary: {
      loadSeconds: Math.round(loadSteps * 10) / 10,
      published,
      offeredPerSec: loadSteps > 0 ? Math.round(steps.reduce((sum, s) => sum + s.offeredPerSec * (s.toT - s.fromT), 0) / loadSteps) : 0,
      lag: done.sampler.overall.summary(),
      lagUnmeasured: done.sampler.lagUnmeasured,
      maxRssMb: max((s) => s.rssMb),
      maxCpuPercent: max((s) => s.cpuPercent),
      maxQueueFrames: max((s) => s.queueFrames),
      reconnects: samples.at(-1)?.reconnects ?? null,
      drainSeconds: done.drainSeconds,
      stream: done.stream,
      ingestorExit: done.ingestorExit,
    },
    verdict: { pass: reasons.length === 0, maxSustainableRate, generatorLimited, reasons },
  }
}

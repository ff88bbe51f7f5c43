import type { LagSummary } from './percentiles.js'
import type { StepProfile } from './profile.js'
import type { Sample } from './sampler.js'
import type { TallyResult } from './seq-tally.js'

export interface LoadtestConfig {
  fixture: string
  /** Constant events/s, 'max' to search for the highest sustainable rate, or null with a profile. */
  rate: number | 'max' | null
  profile: StepProfile | null
  /** Load seconds (a budget for 'max'; cuts a longer profile short). */
  durationSec: number
  /** How long each probe of the 'max' search lasts. */
  stepSeconds: number
  /** A rate is sustained while lag p99 stays below this. */
  maxLagMs: number
  /** Existing Redis (unique keys, deleted afterwards); null: start one with the harness provider. */
  redisUrl: string | null
  /** Replay server seed (reported; the load test injects no faults). */
  seed: number
  /** After the load, how long the ingestor gets to write what was published. */
  drainTimeoutSec: number
}

export interface StepRecord {
  targetRate: number
  /** Seconds since the load started. */
  fromT: number
  toT: number
  /** The step's first seconds: entries sent then are left out of its lag and the run's (ingestor JIT, rate change). */
  warmupSec: number
  offeredPerSec: number
  lag: LagSummary
  sustained: boolean
  reason: string | null
}

export interface LoadtestResult {
  config: LoadtestConfig
  startedAt: string
  seed: number
  lagClock: 'redis' | 'observer'
  samples: Sample[]
  steps: StepRecord[]
  summary: {
    loadSeconds: number
    published: number
    offeredPerSec: number
    lag: LagSummary
    /** Entries whose send time was no longer known (older than the publish clock's ring). */
    lagUnmeasured: number
    maxRssMb: number | null
    maxCpuPercent: number | null
    maxQueueFrames: number | null
    reconnects: number | null
    /** Seconds the final drain took (null: it timed out). */
    drainSeconds: number | null
    stream: TallyResult
    ingestorExit: string
  }
  verdict: {
    pass: boolean
    /** Highest rate sustained (the fixed rate if held, the highest profile step before the first failure, or the search result). */
    maxSustainableRate: number | null
    /** A higher rate could not be tested because the replay server could not offer it. */
    generatorLimited: boolean
    reasons: string[]
  }
}

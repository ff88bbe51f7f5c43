import type { Logger } from '../../common/logger.js'
import type { SeededRandom } from '../../common/random.js'
import type { ShardCheckResult } from '../../stream-check/shard-checker.js'
import type { StreamCheckResult } from '../../stream-check/stream-checker.js'

export interface ScenarioContext {
  name: string
  seed: number
  /** All of the scenario's randomness comes from here (kill points, fault timing). */
  random: SeededRandom
  logger: Logger
}

/** One extra pass/fail condition beyond the stream check (RSS bound, lag p99, a reconnect seen...). */
export interface ScenarioCheck {
  name: string
  ok: boolean
  value: unknown
  /** What passing means, e.g. "< 1000 ms". */
  expected: string
}

export interface ScenarioOutcome {
  /** Null only when skipped, or when `shards` holds the checks. */
  stream: StreamCheckResult | null
  /** Sharded scenarios: one check per shard stream, each judged on its own; the result line sums them. */
  shards?: ShardCheckResult['shards']
  maxRssMb: number | null
  checks?: ScenarioCheck[]
  /** Numbers worth reporting (kills, reconnects, events/s, ...), copied into the result line. */
  details?: Record<string, unknown>
  /** Set when the scenario cannot run here (e.g. external Redis cannot be killed). */
  skipped?: string
}

export interface Scenario {
  name: string
  description: string
  /** Timing-sensitive (lag p99): runs alone among the scenarios on this machine (scenario-slots.ts). */
  exclusive?: boolean
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>
}

/** A stream check's counts (StreamCheckResult's lists, counted). */
export interface StreamCounts {
  expected: number
  delivered: number
  lost: number
  duplicated: number
  outOfOrder: number
  mismatched: number
  unexpected: number
}

/** The one-line JSON result `firehose scenario` prints. */
export interface ScenarioResult extends StreamCounts {
  scenario: string
  seed: number
  ok: boolean
  skipped?: string
  maxRssMb: number | null
  durationMs: number
  checks: Record<string, unknown>
  /** Sharded scenarios: the counts above per shard stream. */
  shards?: ShardCounts[]
  /** Human-readable reasons when not ok. */
  failures: string[]
  /** Command that runs this scenario again with the same seed. */
  reproduce: string
  [detail: string]: unknown
}

/** One shard stream's check in the result line. */
export interface ShardCounts extends StreamCounts {
  shard: number
  stream: string
}

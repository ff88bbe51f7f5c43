import { HarnessError, HarnessErrorCode } from '../errors.js'

/**
 * How big the scenarios run. `full` (the default of `firehose scenario`, and of
 * `npm run test:full`) is what an operator or a release check wants; `ci` (the default of
 * `npm test`, set in vitest.config.ts) keeps each scenario's proof with fewer kills, shorter
 * stalls and a smaller fixture, and leaves to `full` the scenarios another CI test covers.
 * Every size is read here and nowhere else; each has its own HARNESS_* override.
 */
export type HarnessProfile = 'ci' | 'full'

export interface ScenarioSizes {
  profile: HarnessProfile
  /** Events of the generated fixture every scenario replays (HARNESS_FIXTURE_EVENTS). */
  fixtureEvents: number
  /** Ingestor kill -9s of crash-kill9 (HARNESS_CRASH_KILLS). */
  crashKills: number
  /** Leader kill -9s of ha-failover (HARNESS_HA_KILLS). */
  haKills: number
  /** Ingestor kill -9s of cluster-shards (HARNESS_CLUSTER_KILLS). */
  clusterKills: number
  /** Ingestor kill -9s of cluster-failover (HARNESS_FAILOVER_KILLS). */
  failoverKills: number
  /** Accounts of backfill-crash's fixture, 5 events each (HARNESS_BACKFILL_ACCOUNTS). */
  backfillAccounts: number
  /** Kill -9s of backfill-crash, of the ingestor and of the backfill (HARNESS_BACKFILL_KILLS). */
  backfillKills: number
  /** Redis SIGKILLs of redis-crash-aof-* (HARNESS_REDIS_KILLS). */
  redisKills: number
  /** How long stalled-redis stalls Redis (HARNESS_STALL_SECONDS). */
  stallSeconds: number
  /** How long throughput-smoke runs (HARNESS_THROUGHPUT_SECONDS). */
  throughputSeconds: number
  /** How long live-shape runs (HARNESS_LIVE_SECONDS). */
  liveSeconds: number
}

const PROFILES: Record<HarnessProfile, Omit<ScenarioSizes, 'profile'>> = {
  full: { fixtureEvents: 20_000, crashKills: 50, haKills: 20, clusterKills: 5, failoverKills: 2, backfillAccounts: 2_000, backfillKills: 10, redisKills: 5, stallSeconds: 10, throughputSeconds: 10, liveSeconds: 30 },
  ci: { fixtureEvents: 5_000, crashKills: 8, haKills: 3, clusterKills: 2, failoverKills: 1, backfillAccounts: 300, backfillKills: 3, redisKills: 2, stallSeconds: 3, throughputSeconds: 3, liveSeconds: 5 },
}

const OVERRIDES: Record<Exclude<keyof ScenarioSizes, 'profile'>, string> = {
  fixtureEvents: 'HARNESS_FIXTURE_EVENTS',
  crashKills: 'HARNESS_CRASH_KILLS',
  haKills: 'HARNESS_HA_KILLS',
  clusterKills: 'HARNESS_CLUSTER_KILLS',
  failoverKills: 'HARNESS_FAILOVER_KILLS',
  backfillAccounts: 'HARNESS_BACKFILL_ACCOUNTS',
  backfillKills: 'HARNESS_BACKFILL_KILLS',
  redisKills: 'HARNESS_REDIS_KILLS',
  stallSeconds: 'HARNESS_STALL_SECONDS',
  throughputSeconds: 'HARNESS_THROUGHPUT_SECONDS',
  liveSeconds: 'HARNESS_LIVE_SECONDS',
}

/** HARNESS_PROFILE (default `full`) and the overrides; a malformed value is a HarnessError naming the variable. */
export function scenarioSizes(env: NodeJS.ProcessEnv = process.env): ScenarioSizes {
  const profile = env.HARNESS_PROFILE === undefined || env.HARNESS_PROFILE === '' ? 'full' : env.HARNESS_PROFILE
  if (profile !== 'ci' && profile !== 'full') throw invalid('HARNESS_PROFILE', profile, 'ci or full')
  const sizes: ScenarioSizes = { profile, ...PROFILES[profile] }
  for (const [key, variable] of Object.entries(OVERRIDES) as [keyof typeof OVERRIDES, string][]) {
    const raw = env[variable]
    if (raw === undefined || raw === '') continue
    const value = Number(raw)
    if (!Number.isSafeInteger(value) || value < 1) throw invalid(variable, raw, 'a positive integer')
    sizes[key] = value
  }
  return sizes
}

function invalid(variable: string, value: string, expected: string): HarnessError {
  return new HarnessError(HarnessErrorCode.InvalidConfig, `${variable} must be ${expected}, got ${JSON.stringify(value)}`, { variable, value })
}

let cached: ScenarioSizes | null = null

/** This process' sizes, read on first use (a malformed variable fails the scenario that reads it, not an import). */
export function sizes(): ScenarioSizes {
  cached ??= scenarioSizes()
  return cached
}

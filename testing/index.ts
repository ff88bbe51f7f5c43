/**
 * `appview-firehose/testing`: what an AppView's own test suite needs to run its workers against
 * a real firehose stream: a Redis, a fake relay playing a fixture, a generator of realistic
 * signed fixtures, and a stream checker. A small surface over harness/, replay/ and
 * generator/, so those can change without breaking suites that use it.
 */
import { generateFixture as generate, type GenerateOptions } from '../generator/index.js'
import { HarnessError, HarnessErrorCode } from '../harness/errors.js'
import { checkShards as checkShardStreams, type ShardCheckResult } from '../stream-check/shard-checker.js'
import { checkStream as check, expectedEntriesFromFixture, type StreamCheckResult } from '../stream-check/stream-checker.js'
import { startReplay, type ReplayHandle, type ReplayOptions } from '../replay/index.js'
import type { FixtureManifest } from '../fixture-file/index.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
import { DEFAULT_STREAM } from '../common/contract.js'

export { startRedis, startRedisCluster, type RedisClusterHandle, type RedisClusterOptions, type RedisHandle, type RedisStartOptions } from '../harness/redis/index.js'
export { waitUntil } from '../harness/wait.js'
export type { FixtureManifest, ReplayHandle, ShardCheckResult, StreamCheckResult, StreamEntry }

export type FixtureOptions = Pick<GenerateOptions, 'out' | 'events' | 'seed' | 'accounts' | 'firstSeq' | 'startTime' | 'eventsPerSecond'>

/** Writes a deterministic fixture of really signed frames to `out` (same options and seed: same bytes). */
export function generateFixture(options: FixtureOptions): Promise<FixtureManifest> {
  return generate(options)
}

export interface ReplayServerOptions extends Pick<ReplayOptions, 'rate' | 'loop' | 'start' | 'faults' | 'seed' | 'relayQuirks' | 'host' | 'port'> {
  /** Fixture file(s) to play, in order. */
  fixture: string | string[]
}

/** A fake relay on a free port playing the fixture (at full speed unless `rate`); point an ingestor at `.url`. */
export function startReplayServer(options: ReplayServerOptions): Promise<ReplayHandle> {
  const { fixture, ...rest } = options
  return startReplay({ ...rest, files: typeof fixture === 'string' ? [fixture] : fixture })
}

export interface CheckStreamOptions {
  redisUrl: string
  /** Default `firehose:events`. */
  stream?: string
  /** The fixture the stream was ingested from; or give `expected` entries yourself. */
  fixture?: string
  expected?: StreamEntry[]
  /**
   * The stream was written by `ingest --repo-state`: commits and #syncs withheld by per-repo state
   * are counted, not lost; held commits published late are allowed; snapshots are checked.
   */
  repoState?: boolean
}

/** Every event of the fixture in the stream exactly once, in order, in the contract's field order? See StreamCheckResult. */
export async function checkStream(options: CheckStreamOptions): Promise<StreamCheckResult> {
  return check({ redisUrl: options.redisUrl, stream: options.stream ?? DEFAULT_STREAM, expected: await expectedOf(options, 'checkStream'), repoState: options.repoState ?? false })
}

export interface CheckShardsOptions extends Omit<CheckStreamOptions, 'redisUrl'> {
  /** The Redis URL; with `cluster`, one or more seed node URLs. */
  redis: string | readonly string[]
  cluster?: boolean
  /** The ingestor's --shards. */
  shards: number
}

/** checkStream for `ingest --shards N` (and --redis-cluster): each shard stream holds exactly its repos' events, once, in order. */
export async function checkShards(options: CheckShardsOptions): Promise<ShardCheckResult> {
  const redis = typeof options.redis === 'string' ? [options.redis] : options.redis
  return checkShardStreams({
    redis,
    cluster: options.cluster ?? false,
    stream: options.stream ?? DEFAULT_STREAM,
    shards: options.shards,
    expected: await expectedOf(options, 'checkShards'),
    repoState: options.repoState ?? false,
  })
}

async function expectedOf(options: Pick<CheckStreamOptions, 'fixture' | 'expected'>, caller: string): Promise<StreamEntry[]> {
  const expected = options.expected ?? (options.fixture !== undefined ? await expectedEntriesFromFixture(options.fixture) : undefined)
  if (expected === undefined) throw new HarnessError(HarnessErrorCode.InvalidConfig, `${caller} needs \`fixture\` or \`expected\``)
  return expected
}

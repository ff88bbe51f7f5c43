/**
 * What an AppView written in TypeScript compiles against. test/package/pack.test.ts type-checks
 * this file (never runs it) in a scratch project that installed the packed tarball, strict, with
 * skipLibCheck false: every declaration the two entry points pull in must resolve with the
 * package's dependencies alone, not its devDependencies.
 */
import { ConsumerError, FirehoseConsumer, startIngestor, type EventHandler, type IngestorOptions, type StreamEvent } from 'appview-firehose'
import { startRedis, startReplayServer, waitUntil, type RedisHandle, type ReplayHandle, type StreamCheckResult } from 'appview-firehose/testing'

/** A worker's handler: `data` is narrowed by `type`. */
export const handler: EventHandler = (event: StreamEvent) => {
  if (event.type === 'commit') {
    for (const op of event.data.ops) if (op.action === 'delete') return
  }
  if (event.type === 'identity') {
    // @ts-expect-error an identity event has no ops: proves the types are real, not `any`
    return void event.data.ops
  }
}

export function consumerFor(redis: RedisHandle): FirehoseConsumer {
  return new FirehoseConsumer({ redis: redis.url, consumer: 'appview-worker-1' })
}

export function ingestorOptions(replay: ReplayHandle, redis: RedisHandle): IngestorOptions {
  return { relayUrl: replay.url, redisUrl: redis.url, startCursor: 0 }
}

export async function ingestOnce(fixture: string): Promise<void> {
  const redis = await startRedis({ kind: 'process' })
  const replay = await startReplayServer({ fixture })
  const ingestor = await startIngestor(ingestorOptions(replay, redis))
  await waitUntil(() => replay.status().finished, { what: 'the fixture served', timeoutMs: 10_000 })
  await ingestor.stop()
}

export function describeResult(result: StreamCheckResult, error: unknown): string {
  return error instanceof ConsumerError ? `${error.code}: ${error.message}` : `ok: ${String(result.ok)}`
}

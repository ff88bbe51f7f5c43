import { randomBytes } from 'node:crypto'
import { deadLetterStreamOf } from '../common/contract.js'
import { freePort } from '../harness/free-port.js'
import { IngestorProcess } from '../harness/ingestor-process.js'
import { openRedisClient } from '../common/redis-open.js'
import { deleteKeys } from '../harness/redis/redis-cli.js'
import { startRedis, type RedisHandle } from '../harness/redis/index.js'
import { expectedEntriesFromFixture } from '../stream-check/stream-checker.js'
import { waitUntil } from '../harness/wait.js'
import { startReplay, type ReplayHandle } from '../replay/index.js'
import { LoadtestError, LoadtestErrorCode } from './errors.js'
import { SeqTally } from './seq-tally.js'

/**
 * Everything a load test runs against: Redis (given, or started with the harness provider),
 * the replay server in this process (looping the fixture, paused until the load starts), the
 * real `firehose ingest` as a child with /health on a free port, under unique keys.
 */
export interface LoadtestRig {
  redisUrl: string
  stream: string
  replay: ReplayHandle
  ingestor: IngestorProcess
  healthPort: number
  tally: SeqTally
  close(): Promise<void>
}

export async function startRig(options: { fixture: string; redisUrl: string | null; seed: number }): Promise<LoadtestRig> {
  // Decoded before anything starts: which seqs of a fixture pass must reach the stream.
  const pass = (await expectedEntriesFromFixture(options.fixture)).map((entry) => entry.seq)
  if (pass.length === 0) throw new LoadtestError(LoadtestErrorCode.BadInput, `fixture ${options.fixture} has no event the ingestor would write`)
  const tally = new SeqTally(pass, pass[pass.length - 1]! - pass[0]! + 1)

  const cleanup: (() => Promise<unknown>)[] = []
  const close = async (): Promise<void> => {
    for (const step of cleanup.reverse()) await step().catch(() => {})
    cleanup.length = 0
  }
  try {
    const redis = await openRedis(options.redisUrl)
    cleanup.push(redis.close)
    const prefix = `firehose:loadtest:${Date.now()}:${randomBytes(3).toString('hex')}`
    const keys = { stream: `${prefix}:events`, cursorKey: `${prefix}:cursor` }
    if (redis.handle === null) cleanup.push(() => deleteKeys(redis.url, [keys.stream, keys.cursorKey, deadLetterStreamOf(keys.stream)]))

    const replay = await startReplay({ files: [options.fixture], loop: true, start: 'paused', seed: options.seed })
    cleanup.push(() => replay.close())
    const healthPort = await freePort()
    const ingestor = IngestorProcess.start({
      relayUrl: replay.url,
      redisUrl: redis.url,
      ...keys,
      args: ['--health-port', String(healthPort)],
      env: { FIREHOSE_LOG_LEVEL: 'warn' }, // its info lines would cost this process CPU
    })
    cleanup.push(() => ingestor.stop().catch(() => ingestor.kill9()))
    await waitUntil(
      () => {
        if (ingestor.exit !== null) throw ingestor.failure('exited before connecting to the replay server')
        return replay.status().clients.some((client) => client.connected)
      },
      { what: 'the ingestor to connect to the replay server', timeoutMs: 60_000, intervalMs: 50 },
    )
    return { redisUrl: redis.url, stream: keys.stream, replay, ingestor, healthPort, tally, close }
  } catch (err) {
    await close()
    throw err
  }
}

async function openRedis(url: string | null): Promise<{ url: string; handle: RedisHandle | null; close: () => Promise<void> }> {
  if (url !== null) {
    try {
      const client = await openRedisClient(url)
      await client.ping()
      client.disconnect()
    } catch (err) {
      throw new LoadtestError(LoadtestErrorCode.Infrastructure, `Redis at --redis does not answer: ${(err as Error).message}`, {}, { cause: err })
    }
    return { url, handle: null, close: async () => {} }
  }
  // HARNESS_REDIS picks the provider; without it a redis-server child (fast, no image pull).
  const handle = await startRedis(process.env.HARNESS_REDIS ? {} : { kind: 'process' })
  return { url: handle.url, handle, close: () => handle.stop() }
}

/** Redis on this host shares our clock: lag can use the entry id's time. */
export function isLocalRedis(url: string): boolean {
  return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(new URL(url).hostname)
}

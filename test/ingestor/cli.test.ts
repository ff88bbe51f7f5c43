import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { IngestorProcess } from '../../harness/ingestor-process.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { waitUntil } from '../../harness/wait.js'
import type { ReplayHandle } from '../../replay/index.js'
import { runCli, startCli } from '../support/cli.js'
import { expectIngestUsageError, readStream, replay, sequencedRealFrames, startOwnRedis, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const FRAMES = 2000

describe('firehose ingest CLI', () => {
  // Option checks: each a CLI start that exits before connecting, sharing nothing: concurrent.
  it.concurrent.for([
    [['--max-len', '-5'], /--max-len.*-5/],
    [['--redis', 'http://nope'], /--redis/],
    [['--relay', 'ftp://relay.example'], /--relay/],
    [['--batch-size', '0'], /--batch-size/],
    [['--on-future-cursor', 'maybe'], /--on-future-cursor/],
    [['--bogus'], /unknown option '--bogus'/],
    [['--batch-size', '500', '--queue-size', '10'], /--queue-size \(10\) must be at least --batch-size/],
  ] as const)('rejects %j with exit 2 and a one-line reason, before connecting', async ([args, reason], { expect }) => {
    await expectIngestUsageError(args, {}, reason, expect)
  })

  it.concurrent('rejects a bad legacy environment value and a bad FIREHOSE_CRASH_AT with exit 2', async ({ expect }) => {
    expect((await runCli(['ingest'], { env: { REDIS_MAX_STREAM_LEN: '-1' } })).code).toBe(2)
    const crash = await runCli(['ingest'], { env: { FIREHOSE_CRASH_AT: 'nowhere:1' } })
    expect(crash.code).toBe(2)
    expect(crash.stderr).toMatch(/FIREHOSE_CRASH_AT/)
  })

  // Its own redis-server and stream key: runs alongside the option checks.
  it.concurrent(
    'firehose demo: replays the committed fixture into a fresh stream key of the given Redis, checks it, exits 0',
    async ({ expect }) => {
      const redis = await startOwnRedis()
      try {
        const result = await runCli(['demo'], { env: { REDIS_URL: redis.url }, timeoutMs: 80_000 })
        expect(result.stderr).toBe('')
        expect(result.code).toBe(0)
        expect(result.stdout).toMatch(/stream: +firehose:demo:\S+:events/)
        expect(result.stdout).toMatch(/OK: every fixture event is in the stream exactly once, in order/)
        expect(await redis.cli('KEYS', 'firehose:demo:*')).toBe('') // removed afterwards unless --keep
      } finally {
        await redis.stop()
      }
    },
    90_000,
  )

  describe('against a replay server and redis-server', () => {
    const temp = tempDir()
    let redis: RedisHandle
    let relay: ReplayHandle
    let fixture: string
    let admin: Redis
    beforeAll(async () => {
      redis = await startOwnRedis()
      admin = new Redis(redis.url)
      fixture = await writeFixture(join(temp.dir, 'cli.fixture.gz'), sequencedRealFrames(FRAMES))
    })
    beforeEach(async () => {
      relay = await replay([fixture], { rate: { mode: 'rate', eventsPerSec: 1500 }, start: 'first-client' })
    })
    afterEach(async () => {
      await relay.close()
    })
    afterAll(async () => {
      admin.disconnect()
      await redis.stop()
      temp.cleanup()
    })

    it('takes the seed consumer environment variables (relay without the xrpc path); flags win over them', async () => {
      const keys = uniqueKeys('test:cli-env')
      const ignored = uniqueKeys('test:cli-env-ignored')
      await admin.set(keys.cursorKey, String(FRAMES - 100))
      // The whole fixture published, so the stored cursor is inside the relay's window.
      await relay.close()
      relay = await replay([fixture])
      await waitUntil(() => relay.status().finished, { what: 'the replay to publish everything', timeoutMs: 20_000 })
      // Sampled real frames: their repos' commits are not contiguous, which per-repo state would resync (offline: never), and no offline PLC directory has their DIDs.
      const run = startCli(['ingest', '--stream', keys.stream, '--no-repo-state', '--no-verify'], {
        env: {
          RELAY_URL: new URL(relay.url).origin.replace('http', 'ws'), // no xrpc path: the CLI completes it
          REDIS_URL: redis.url,
          REDIS_STREAM_KEY: ignored.stream, // the --stream flag wins
          REDIS_CURSOR_KEY: keys.cursorKey,
          FIREHOSE_LOG_LEVEL: 'warn',
        },
        timeoutMs: 60_000,
      })
      try {
        await waitUntil(async () => Number(await admin.get(keys.cursorKey)) >= FRAMES, { what: 'the last seq', timeoutMs: 30_000 })
      } finally {
        run.child.kill('SIGTERM')
        await run.done
      }
      expect(await admin.exists(ignored.stream)).toBe(0)
      const seqs = (await readStream(redis.url, keys.stream)).map((f) => Number(f[5]))
      expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => FRAMES - 99 + i))
      await admin.del(keys.stream, keys.cursorKey)
    })

    it('SIGTERM: drains, writes the last batch and cursor, exits 0; a restart continues exactly once', async () => {
      const keys = uniqueKeys('test:cli-term')
      await admin.set(keys.cursorKey, '0')
      const start = (): IngestorProcess => IngestorProcess.start({ relayUrl: relay.url, redisUrl: redis.url, ...keys, args: ['--health-port', '0'], env: { FIREHOSE_LOG_LEVEL: 'info' } })
      const first = start()
      await waitUntil(async () => (await admin.xlen(keys.stream)) >= 300, { what: '300 entries', timeoutMs: 30_000 })
      const { port } = (await first.waitForLog((r) => r.msg === 'health endpoint on GET /health', 5_000)) as { port: number }
      const health = await fetch(`http://127.0.0.1:${port}/health`)
      expect(health.status).toBe(200)
      expect(await health.json()).toMatchObject({ healthy: true, state: 'running', redis: { ready: true }, relay: { connected: true } })
      expect(await first.stop(10_000)).toEqual({ code: 0, signal: null })
      const entries = await readStream(redis.url, keys.stream)
      expect(await admin.get(keys.cursorKey)).toBe(entries[entries.length - 1]![5])
      expect(first.logs.some((r) => r.msg === 'ingestor stopped')).toBe(true)

      const second = start()
      await second.waitForLog((r) => r.msg === 'starting from cursor', 20_000, 'the restart')
      await waitUntil(async () => Number(await admin.get(keys.cursorKey)) >= FRAMES, { what: 'the last seq', timeoutMs: 30_000 })
      expect(await second.stop(10_000)).toEqual({ code: 0, signal: null })
      const result = await checkStream({ redisUrl: redis.url, stream: keys.stream, expected: await expectedEntriesFromFixture(fixture) })
      expect(result).toMatchObject({ ok: true, delivered: FRAMES })
      await admin.del(keys.stream, keys.cursorKey)
    })

    it('a second signal exits at once even while Redis hangs, leaving cursor and stream consistent', async () => {
      const keys = uniqueKeys('test:cli-twice')
      await admin.set(keys.cursorKey, '0')
      const redisPid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1])
      const child = IngestorProcess.start({ relayUrl: relay.url, redisUrl: redis.url, ...keys, env: { FIREHOSE_LOG_LEVEL: 'info' } })
      let stopped = false
      try {
        await waitUntil(async () => (await admin.xlen(keys.stream)) >= 200, { what: '200 entries', timeoutMs: 30_000 })
        process.kill(redisPid, 'SIGSTOP')
        stopped = true
        process.kill(child.pid!, 'SIGTERM')
        await child.waitForLog((r) => r.msg?.startsWith('signal: stopping gracefully') === true, 5_000, 'the first signal')
        process.kill(child.pid!, 'SIGTERM')
        expect(await child.exited).toEqual({ code: 143, signal: null })
      } finally {
        if (stopped) process.kill(redisPid, 'SIGCONT')
        await child.kill9()
      }
      const entries = await readStream(redis.url, keys.stream)
      expect(await admin.get(keys.cursorKey)).toBe(entries[entries.length - 1]![5])
      await admin.del(keys.stream, keys.cursorKey)
    })
  })
})

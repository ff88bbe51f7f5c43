import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IngestorProcess, ingestArgs, ingestEnv } from '../../harness/ingestor-process.js'
import { startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { checkStream, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { waitUntil } from '../../harness/wait.js'
import { startReplay, type ReplayHandle } from '../../replay/index.js'

// The real CLI as a child (npm test builds dist/ first), a real replay server and Redis.
const fixture = join(import.meta.dirname, '..', '..', 'fixtures', 'generated.fixture.gz')
let redis: RedisHandle
let replay: ReplayHandle
let keyCounter = 0
const children: IngestorProcess[] = []

beforeAll(async () => {
  redis = await startRedis({ kind: 'process' })
  replay = await startReplay({ files: [fixture], rate: { mode: 'rate', eventsPerSec: 500 } })
})
afterAll(async () => {
  for (const child of children) await child.kill9()
  await replay.close()
  await redis.stop()
})

function start(extra: { args?: string[]; crashAt?: string } = {}): { child: IngestorProcess; stream: string; cursorKey: string } {
  const stream = `proc-test:${++keyCounter}:events`
  const cursorKey = `proc-test:${keyCounter}:cursor`
  const child = IngestorProcess.start({ relayUrl: replay.url, redisUrl: redis.url, stream, cursorKey, args: ['--cursor', '0', ...(extra.args ?? [])], crashAt: extra.crashAt ?? null })
  children.push(child)
  return { child, stream, cursorKey }
}

describe('IngestorProcess', () => {
  it('builds the argv a user would type, with the Redis URL in the environment instead', () => {
    const options = { relayUrl: 'ws://r', redisUrl: 'redis://:pw@x', stream: 's', cursorKey: 'c', args: ['--max-len', '10'] }
    // The harness checks streams frame by frame: per-repo state and verification (the ingestor's defaults) only when asked for.
    expect(ingestArgs(options)).toEqual(['ingest', '--relay', 'ws://r', '--stream', 's', '--cursor-key', 'c', '--no-repo-state', '--no-verify', '--max-len', '10'])
    expect(ingestArgs({ ...options, repoState: true, verify: true })).toEqual(['ingest', '--relay', 'ws://r', '--stream', 's', '--cursor-key', 'c', '--max-len', '10'])
    expect(ingestEnv(options)).toEqual({ REDIS_URL: 'redis://:pw@x' })
  })

  it("never puts a Redis password on the child's command line (world-readable in ps); the child still uses it", async () => {
    const secret = 'cmdline-secret-4711'
    const guarded = await startRedis({ kind: 'process', password: secret })
    const stream = `proc-test:${++keyCounter}:events`
    const child = IngestorProcess.start({ relayUrl: replay.url, redisUrl: guarded.url, stream, cursorKey: `${stream}:cursor`, args: ['--cursor', '0'] })
    children.push(child)
    try {
      expect(guarded.url).toContain(secret)
      const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0')
      expect(cmdline).toContain('ingest')
      expect(cmdline.join(' ')).not.toContain(secret)
      expect(cmdline).not.toContain('--redis')
      // Authenticated with the password from its environment (NOAUTH would exit 4).
      await waitUntil(async () => Number(await guarded.cli('XLEN', stream)) > 0, { what: 'entries written with the password', timeoutMs: 20_000 })
      expect((await child.stop()).code).toBe(0)
    } finally {
      await child.kill9()
      await guarded.stop()
    }
  })

  it('reads the JSON logs, samples RSS, is killed with SIGKILL and restarted from the stored cursor', async () => {
    const { child, stream, cursorKey } = start()
    const connected = await child.waitForLog((record) => record.msg === 'relay connected', 20_000, 'relay connected')
    expect(connected.level).toBe(30)
    await waitUntil(async () => Number(await redis.cli('XLEN', stream)) > 0, { what: 'first entries', timeoutMs: 20_000 })
    expect((await child.kill9()).signal).toBe('SIGKILL')
    expect(child.maxRssMb).toBeGreaterThan(10)
    const cursor = await redis.cli('GET', cursorKey)
    expect(cursor).not.toBe('')

    const again = child.restart({ args: [] }) // no --cursor: resumes from the stored one
    children.push(again)
    const resumed = await again.waitForLog((record) => record.msg === 'starting from cursor', 20_000)
    expect(String(resumed.storedCursor)).toBe(cursor)
    const expected = await expectedEntriesFromFixture(fixture)
    const lastSeq = String(expected[expected.length - 1]!.seq)
    await waitUntil(async () => (await redis.cli('GET', cursorKey)) === lastSeq, { what: 'the whole fixture', timeoutMs: 60_000 })
    expect((await again.stop()).code).toBe(0)
    expect((await checkStream({ redisUrl: redis.url, stream, expected })).ok).toBe(true)
  })

  it('sets FIREHOSE_CRASH_AT: the child SIGKILLs itself at the crash point', async () => {
    const { child } = start({ crashAt: 'after-write-before-ack:1' })
    expect((await child.exited).signal).toBe('SIGKILL')
  })

  it('fails a wait with the log tail when the child exits first', async () => {
    const { child } = start({ args: ['--batch-size', 'lots'] })
    const error = await child.waitForLog((record) => record.msg === 'relay connected', 20_000, 'relay connected').catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'HARNESS_CHILD_PROCESS_FAILED' })
    expect(String((error as Error).message)).toMatch(/exited \(code 2\) before relay connected[\s\S]*batch-size/)
  })
})

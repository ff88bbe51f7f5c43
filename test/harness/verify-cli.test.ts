import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { FixtureWriter } from '../../fixture-file/index.js'
import { encodeFrame } from '../../protocol/frame.js'
import { entryFields, type StreamEntry } from '../../protocol/stream-entry.js'
import { WebSocket } from 'ws'
import { expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { decodeEvent } from '../../protocol/events.js'
import { isSequenced, toStreamEntry } from '../../protocol/stream-entry.js'
import { startReplay } from '../../replay/index.js'
import { shardOfDid } from '../../protocol/shard.js'
import { waitUntil } from '../../harness/wait.js'
import { runCli } from '../support/cli.js'

let redis: RedisHandle
let dir: string
let fixture: string
let entries: StreamEntry[]

async function writeStream(key: string, list: StreamEntry[]): Promise<void> {
  for (const entry of list) await redis.cli('XADD', key, '*', ...entryFields(entry))
}

beforeAll(async () => {
  redis = await startRedis({ kind: 'process', password: 'pw' })
  dir = await mkdtemp(join(tmpdir(), 'verify-cli-'))
  fixture = join(dir, 'ids.fixture.gz')
  const writer = await FixtureWriter.create(fixture)
  for (let seq = 1; seq <= 20; seq++) {
    writer.write({ timeUs: seq * 1000, bytes: encodeFrame({ op: 1, t: '#identity' }, { seq, did: `did:plc:${seq}`, handle: null, time: '2025-01-01T00:00:00Z' }) })
  }
  await writer.close()
  entries = await expectedEntriesFromFixture(fixture)
})
afterAll(async () => {
  await redis.stop()
  await rm(dir, { recursive: true, force: true })
})

// Each case has its own stream keys: concurrent, but for --wait, which counts the server's XRANGE calls.
describe.concurrent('firehose verify', () => {
  it('exits 0 and prints zero counts for a clean stream', async ({ expect }) => {
    await writeStream('clean', entries)
    const result = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'clean'])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/missing: +0\n/)
    expect(result.stdout).toMatch(/duplicated: +0\n/)
    expect(result.stdout).toMatch(/\nOK\n$/)
    expect(result.stdout).not.toContain(':pw@') // password redacted
  })

  it.sequential('--wait: checks again while entries arrive, and reports once none is missing (a writer still at work)', async ({ expect }) => {
    await writeStream('arriving', entries.slice(0, 5))
    const xranges = async (): Promise<number> => Number(/cmdstat_xrange:calls=(\d+)/.exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0)
    const before = await xranges()
    const verifying = runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'arriving', '--wait', '60'], { timeoutMs: 60_000 })
    // The rest arrives once verify has read the stream (found 15 missing): without --wait it would report them.
    await waitUntil(async () => (await xranges()) > before, { what: 'verify reading the stream', timeoutMs: 20_000 })
    await writeStream('arriving', entries.slice(5))
    const result = await verifying
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toMatch(/delivered: +20\n/)
    const never = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'never-written', '--wait', '1'])
    expect(never.code).toBe(1)
    expect(never.stdout).toContain('missing:      20')
  })

  it('exits 1 and prints missing, duplicated, out-of-order and mismatched counts', async ({ expect }) => {
    const [a, b, c, ...rest] = entries
    await writeStream('broken', [b!, a!, a!, { ...c!, data: '{}' }, ...rest.slice(1)])
    const result = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'broken'])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('missing:      1 (4)')
    expect(result.stdout).toContain('duplicated:   1 (1)')
    expect(result.stdout).toContain('out-of-order: 1 (1)')
    expect(result.stdout).toContain('mismatched:   1 (3)')
    expect(result.stdout).toMatch(/\nFAILED\n$/)
  })

  it("--shards 3: checks each shard stream against its repos' events; an entry in the wrong shard fails both", async ({ expect }) => {
    const shardOf = (entry: StreamEntry): number => shardOfDid((JSON.parse(entry.data) as { did: string }).did, 3)
    for (let shard = 0; shard < 3; shard++)
      await writeStream(
        `sharded:${shard}`,
        entries.filter((entry) => shardOf(entry) === shard),
      )
    const ok = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'sharded', '--shards', '3'])
    expect(ok.code, ok.stdout).toBe(0)
    expect(ok.stdout.match(/^stream sharded:\d /gm)).toHaveLength(3)
    const moved = entries.find((entry) => shardOf(entry) === 0)!
    for (let shard = 0; shard < 3; shard++) {
      await writeStream(
        `misplaced:${shard}`,
        entries.filter((entry) => (entry === moved ? 1 : shardOf(entry)) === shard),
      )
    }
    const wrong = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'misplaced', '--json'], { env: { FIREHOSE_SHARDS: '3' } })
    expect(wrong.code).toBe(1)
    const report = JSON.parse(wrong.stdout) as { ok: boolean; shards: { stream: string; lost: number[]; unexpected: number[] }[] }
    expect(report.ok).toBe(false)
    expect(report.shards.map((shard) => [shard.stream, shard.lost, shard.unexpected])).toEqual([
      ['misplaced:0', [moved.seq], []],
      ['misplaced:1', [], [moved.seq]],
      ['misplaced:2', [], []],
    ])
  })

  it('takes REDIS_URL and REDIS_STREAM_KEY from the environment, and prints JSON with --json', async ({ expect }) => {
    await writeStream('from-env', entries.slice(0, 19))
    const result = await runCli(['verify', '--fixture', fixture, '--json'], { env: { REDIS_URL: redis.url, REDIS_STREAM_KEY: 'from-env' } })
    expect(result.code).toBe(1)
    expect(JSON.parse(result.stdout)).toMatchObject({ stream: 'from-env', expected: 20, delivered: 19, lost: [20], ok: false })
  })

  it('with --replay, does not expect the seqs a replay fault swallowed', async ({ expect }) => {
    const replay = await startReplay({ files: [fixture], start: 'first-client', faults: [{ kind: 'swallow', atFrame: 5, count: 2 }] })
    try {
      // A consumer that writes what it receives, as an ingestor would.
      const received: StreamEntry[] = []
      const socket = new WebSocket(`${replay.url}?cursor=0`)
      await new Promise<void>((resolve, reject) => {
        socket.on('message', (data: Buffer) => {
          const event = decodeEvent(new Uint8Array(data))
          if (isSequenced(event)) received.push(toStreamEntry(event))
          if (received.length === 18) resolve()
        })
        socket.on('error', reject)
      })
      socket.close()
      await writeStream('after-swallow', received)
      const without = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'after-swallow'])
      expect(without.code).toBe(1)
      expect(without.stdout).toContain('missing:      2 (6-7)')
      const withReplay = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'after-swallow', '--replay', replay.httpUrl])
      expect(withReplay.stdout).toContain('lost to replay faults (not expected): 2 (6-7)')
      expect(withReplay.code).toBe(0)
    } finally {
      await replay.close()
    }
  })

  it('exits 2 on bad usage and 3 when Redis or the fixture cannot be read', async ({ expect }) => {
    expect((await runCli(['verify'])).code).toBe(2)
    expect((await runCli(['verify', '--fixture', fixture, '--redis', 'http://x'])).code).toBe(2)
    const missing = await runCli(['verify', '--fixture', join(dir, 'none.fixture'), '--redis', redis.url])
    expect(missing.code).toBe(3)
    const down = await runCli(['verify', '--fixture', fixture, '--redis', 'redis://127.0.0.1:1'])
    expect(down.code).toBe(3)
    expect(down.stderr).toMatch(/^firehose verify: cannot read firehose:events from Redis at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/)
  })
})

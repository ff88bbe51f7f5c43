import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { waitUntil } from '../../harness/wait.js'
import { FixtureWriter } from '../../fixture-file/index.js'
import { encodeFrame } from '../../protocol/frame.js'
import { entryFields, type StreamEntry } from '../../protocol/stream-entry.js'
import { expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { runCli } from '../support/cli.js'
import { snapshot, storedState as state } from '../support/repo-state-stream.js'

/** `firehose verify` and `compare` with and without --repo-state, on streams written here with XADD in contract order. */
let redis: RedisHandle
let dir: string
let fixture: string
let entries: StreamEntry[]

const DID = 'did:plc:snapshotcliaaaaaaaaaaaaa'

async function writeStream(key: string, list: StreamEntry[]): Promise<void> {
  for (const entry of list) await redis.cli('XADD', key, '*', ...entryFields(entry))
}

/** The fixture's entries with a complete snapshot of DID after seq 5, as an ingestor with --repo-state writes it. */
function withSnapshot(id: string): StreamEntry[] {
  const pieces = snapshot(DID, id, 5, [2, 1])
  return [...entries.slice(0, 5), pieces.begin, ...pieces.parts, pieces.end, ...entries.slice(5)]
}

beforeAll(async () => {
  redis = await startRedis({ kind: 'process' })
  dir = await mkdtemp(join(tmpdir(), 'verify-repo-state-cli-'))
  fixture = join(dir, 'ids.fixture.gz')
  const writer = await FixtureWriter.create(fixture)
  for (let seq = 1; seq <= 10; seq++) {
    writer.write({ timeUs: seq * 1000, bytes: encodeFrame({ op: 1, t: '#identity' }, { seq, did: `did:plc:${seq}`, handle: null, time: '2025-01-01T00:00:00Z' }) })
  }
  await writer.close()
  entries = await expectedEntriesFromFixture(fixture)
})
afterAll(async () => {
  await redis.stop()
  await rm(dir, { recursive: true, force: true })
})

describe.concurrent('a stream holding repo snapshot entries, checked without --repo-state: one line saying to give it, exit 2 (its counts would be wrong)', () => {
  it('verify', async ({ expect }) => {
    await writeStream('unflagged', withSnapshot('u-1'))
    for (const env of [{}, { FIREHOSE_REPO_STATE: '0' }]) {
      const result = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'unflagged'], { env })
      expect(result.code).toBe(2)
      expect(result.stdout).toBe('')
      expect(result.stderr).toBe('firehose verify: unflagged holds repo snapshot entries (written by ingest --repo-state): give --repo-state (or FIREHOSE_REPO_STATE=1) to check it\n')
    }
  })

  it('compare', async ({ expect }) => {
    await writeStream('unflagged-a', withSnapshot('u-2'))
    await writeStream('unflagged-b', entries)
    const result = await runCli(['compare', '--stream', 'unflagged-a', '--stream', 'unflagged-b', '--redis', redis.url])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe('firehose compare: unflagged-a holds repo snapshot entries (written by ingest --repo-state): give --repo-state (or FIREHOSE_REPO_STATE=1) to check it\n')
  })
})

describe.concurrent('--repo-state (or FIREHOSE_REPO_STATE=1, as for ingest): snapshot entries are reported on their own', () => {
  it('verify: exit 0, the snapshot and withheld lines', async ({ expect }) => {
    await writeStream('flagged', withSnapshot('f-1'))
    const result = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'flagged', '--repo-state'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('written with --repo-state\n')
    expect(result.stdout).toContain('withheld:     0 by per-repo state: 0 #sync, 0 commits (not missing)\n')
    expect(result.stdout).toContain('snapshots:    1 begun: 1 complete, 0 abandoned (complete: false), 0 open; 2 parts, 3 records\n')
    expect(result.stdout).toContain('snapshot rule violations: 0\n')
    expect(result.stdout).toMatch(/\nOK\n$/)
    const json = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'flagged', '--json'], { env: { FIREHOSE_REPO_STATE: '1' } })
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({ repoState: true, ok: true, snapshots: { begun: 1, complete: 1, records: 3 } })
  })

  it('verify: a snapshot rule broken fails (exit 1) and is named', async ({ expect }) => {
    const pieces = snapshot(DID, 'f-2', 5, [2, 1])
    await writeStream('flagged-broken', [...entries.slice(0, 5), pieces.begin, pieces.parts[1]!, pieces.end, ...entries.slice(5)])
    const result = await runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'flagged-broken', '--repo-state'])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('snapshot rule violations: 2 (part-skipped at seq 5: part 1 of snapshot f-2 while part 0 was due; end-counts at seq 5: ')
    expect(result.stdout).toMatch(/\nFAILED\n$/)
  })

  it('compare: exit 0, each stream its snapshots line', async ({ expect }) => {
    await writeStream('flagged-a', withSnapshot('f-3'))
    await writeStream('flagged-b', entries)
    const result = await runCli(['compare', '--stream', 'flagged-a', '--stream', 'flagged-b', '--redis', redis.url, '--repo-state'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('A snapshots:      1 begun: 1 complete, 0 abandoned (complete: false), 0 open; 3 records; 0 rule violations\n')
    expect(result.stdout).toContain('withheld from A:  0\n')
    expect(result.stdout).toMatch(/^OK: they agree/m)
  })
})

describe('verify --repo-state --wait: a stream is finished only when no repo awaits a resync (its withheld commits may still come), no snapshot is open and the stream is unchanged', () => {
  it('waits for the repo to resync, then reports', async ({ expect }) => {
    await writeStream('waiting', entries)
    const admin = new Redis(redis.url)
    try {
      await admin.hset('waiting:repos', DID, state('desynchronized'))
      const hscans = async (): Promise<number> => Number(/cmdstat_hscan:calls=(\d+)/.exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0)
      const before = await hscans()
      const verifying = runCli(['verify', '--fixture', fixture, '--redis', redis.url, '--stream', 'waiting', '--repo-state', '--wait', '60'], { timeoutMs: 60_000 })
      // Twice: the stream found unchanged once, the repo still awaiting its resync.
      await waitUntil(async () => (await hscans()) >= before + 2, { what: 'verify reading the repo states twice', timeoutMs: 20_000 })
      await admin.hset('waiting:repos', DID, state('synchronized'))
      const result = await verifying
      expect(result.code, result.stdout + result.stderr).toBe(0)
      expect(result.stdout).toContain('awaiting a resync: 0 repos')
    } finally {
      admin.disconnect()
    }
  })
})

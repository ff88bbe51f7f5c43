import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { checkStream, describeSeqs, expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { decodeEvent, type SequencedEvent } from '../../protocol/events.js'
import { FixtureWriter } from '../../fixture-file/index.js'
import { encodeFrame } from '../../protocol/frame.js'
import { entryFields, toStreamEntry, type StreamEntry } from '../../protocol/stream-entry.js'
import { REAL_DATA } from '../shared-data.js'

let redis: RedisHandle
let client: Redis
let streamCounter = 0

beforeAll(async () => {
  redis = await startRedis({ kind: 'process' })
  client = new Redis(redis.url)
})
afterAll(async () => {
  client.disconnect()
  await redis.stop()
})

function entry(seq: number, type: StreamEntry['type'] = 'commit'): StreamEntry {
  return { type, seq, data: JSON.stringify({ repo: `did:plc:${seq}`, seq, ops: [] }) }
}

/** Writes raw field lists to a fresh stream, in order, and returns its key. */
async function writeStream(entries: string[][]): Promise<string> {
  const key = `checker-test:${process.pid}:${++streamCounter}`
  const pipeline = client.pipeline()
  for (const fields of entries) pipeline.xadd(key, '*', ...fields)
  await pipeline.exec()
  return key
}

describe('checkStream', () => {
  it('accepts a stream holding exactly the expected entries, in order', async () => {
    const expected = [1, 2, 5, 9].map((seq) => entry(seq))
    const stream = await writeStream(expected.map(entryFields))
    const result = await checkStream({ redisUrl: redis.url, stream, expected })
    expect(result).toMatchObject({ expected: 4, delivered: 4, lost: [], duplicated: [], outOfOrder: [], mismatched: [], unexpected: [], withheld: { commits: [], syncs: [] }, late: [], entries: 4, ok: true })
    expect(result.snapshots.entries).toBe(0)
  })

  it('classifies lost, duplicated, out-of-order, mismatched and unexpected entries', async () => {
    const expected = [1, 2, 3, 4, 5, 6, 7, 8].map((seq) => entry(seq))
    const e = (seq: number): string[] => entryFields(expected[seq - 1]!)
    const stream = await writeStream([
      e(1),
      e(2),
      e(2), // duplicate
      e(4), // 3 comes after 4: 3 is out of order
      e(3),
      ['type', 'identity', 'data', expected[4]!.data, 'seq', '5'], // wrong type
      ['data', expected[5]!.data, 'type', 'commit', 'seq', '6'], // fields not in contract order
      ['type', 'commit', 'data', '{"repo":"other"}', 'seq', '7'], // wrong data
      entryFields(entry(100)), // never expected
      ['type', 'commit', 'data', '{}'], // no seq at all
      // 8 is lost
    ])
    const result = await checkStream({ redisUrl: redis.url, stream, expected })
    expect(result.lost).toEqual([8])
    expect(result.duplicated).toEqual([2])
    expect(result.outOfOrder).toEqual([3])
    expect(result.mismatched).toEqual([5, 6, 7])
    expect(result.unexpected).toEqual([100, Number.NaN])
    expect(result.delivered).toBe(7)
    expect(result.ok).toBe(false)
  })

  it('compares data as JSON: another key order is not a mismatch', async () => {
    const expected = [{ type: 'identity' as const, seq: 1, data: JSON.stringify({ did: 'did:plc:a', handle: 'a.test', seq: 1 }) }]
    const stream = await writeStream([['type', 'identity', 'data', JSON.stringify({ seq: 1, handle: 'a.test', did: 'did:plc:a' }), 'seq', '1']])
    expect((await checkStream({ redisUrl: redis.url, stream, expected })).ok).toBe(true)
  })

  it('reads streams longer than one XRANGE page', async () => {
    const expected = Array.from({ length: 2600 }, (_, i) => entry(i + 1))
    const written = expected.filter((x) => x.seq !== 1500).map(entryFields)
    written.push(entryFields(expected[2599]!))
    const stream = await writeStream(written)
    const result = await checkStream({ redisUrl: redis.url, stream, expected })
    expect(result.lost).toEqual([1500])
    expect(result.duplicated).toEqual([2600])
    expect(result.delivered).toBe(2599)
  })

  it('reports every expected entry lost when the stream does not exist', async () => {
    const expected = [entry(1), entry(2)]
    const result = await checkStream({ redisUrl: redis.url, stream: 'checker-test:missing', expected })
    expect(result.lost).toEqual([1, 2])
    expect(result.ok).toBe(false)
  })

  it('rejects when Redis is unreachable', async () => {
    const down = await startRedis({ kind: 'process' })
    const url = down.url
    await down.stop()
    await expect(checkStream({ redisUrl: url, stream: 'x', expected: [] })).rejects.toThrow()
  })
})

describe('describeSeqs', () => {
  it('prints a count and compact ranges', () => {
    expect(describeSeqs([])).toBe('0')
    expect(describeSeqs([7, 1, 2, 3])).toBe('4 (1-3, 7)')
    expect(describeSeqs([1, 3, 5, 7, 9, 11, 13], 3)).toBe('7 (1, 3, 5, ...)')
  })
})

describe('expectedEntriesFromFixture', () => {
  const realFrames = join(REAL_DATA, 'indigo-prod-commits/frames')
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'checker-fixture-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const identity = (seq: number): Uint8Array => encodeFrame({ op: 1, t: '#identity' }, { seq, did: `did:plc:id${seq}`, handle: `h${seq}.test`, time: '2025-01-01T00:00:00.000Z' })

  async function writeFixture(name: string, frames: Uint8Array[]): Promise<string> {
    const path = join(dir, name)
    const writer = await FixtureWriter.create(path)
    let timeUs = 1_700_000_000_000_000
    for (const bytes of frames) {
      if (!writer.write({ timeUs: (timeUs += 1000), bytes })) await writer.drain()
    }
    await writer.close()
    return path
  }

  it('maps sequenced frames through the codec, skipping info, undecodable, repeated and backwards seqs', async () => {
    const commits = (await readdir(realFrames)).sort().map((name) => new Uint8Array(readFileSync(join(realFrames, name))))
    const commitSeqs = commits.map((bytes) => (decodeEvent(bytes) as { seq: number }).seq)
    const first = commitSeqs[0]!
    const path = await writeFixture('mixed.fixture.gz', [
      identity(first - 10),
      commits[0]!,
      encodeFrame({ op: 1, t: '#info' }, { name: 'OutdatedCursor', message: null }),
      new Uint8Array([0xff, 0x00, 0x13]), // garbage: dead-letter, not an entry
      commits[0]!, // repeated seq
      identity(first - 5), // backwards
      commits[1]!,
      commits[2]!,
      encodeFrame({ op: -1 }, { error: 'FutureCursor', message: null }),
      commits[3]!,
      identity(commitSeqs[3]! + 1),
    ])
    const entries = await expectedEntriesFromFixture(path)
    expect(entries.map((e) => e.seq)).toEqual([first - 10, ...commitSeqs, commitSeqs[3]! + 1])
    expect(entries[1]).toEqual(toStreamEntry(decodeEvent(commits[0]!) as SequencedEvent))
    expect(entries.map((e) => e.type)).toEqual(['identity', 'commit', 'commit', 'commit', 'commit', 'identity'])
  })

  it('drops skipSeqs (frames a replay fault swallowed) without moving the order check past them', async () => {
    const path = await writeFixture('skip.fixture', [identity(1), identity(2), identity(3), identity(4)])
    const entries = await expectedEntriesFromFixture(path, { skipSeqs: new Set([2, 3]) })
    expect(entries.map((e) => e.seq)).toEqual([1, 4])
  })

  it('round-trips with checkStream: a stream written from the fixture checks clean', async () => {
    const path = await writeFixture(
      'roundtrip.fixture.gz',
      Array.from({ length: 50 }, (_, i) => identity(i + 1)),
    )
    const entries = await expectedEntriesFromFixture(path)
    const stream = await writeStream(entries.map(entryFields))
    expect((await checkStream({ redisUrl: redis.url, stream, expected: entries })).ok).toBe(true)
  })

  it('fails with FixtureError for a missing file', async () => {
    await expect(expectedEntriesFromFixture(join(dir, 'nope.fixture'))).rejects.toMatchObject({ code: 'FIXTURE_NOT_FOUND' })
  })
})

import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoStateKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { silentLogger } from '../../common/logger.js'
import { RedisSink } from '../../ingestor/redis-sink.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import { readStream, startOwnRedis, uniqueKeys } from './helpers.js'

function entries(from: number, to: number): StreamEntry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ type: 'identity' as const, seq: from + i, data: JSON.stringify({ did: `did:plc:${from + i}`, handle: null, seq: from + i }) }))
}

describe('the atomic compare-and-set write (ingestor/write-script.ts)', () => {
  const keys = uniqueKeys('test:cas')
  let sink: RedisSink
  let admin: Redis
  let redis: RedisHandle
  let REDIS_URL: string
  beforeAll(async () => {
    // Our own server: SCRIPT FLUSH below must not touch anyone else's scripts.
    redis = await startOwnRedis()
    REDIS_URL = redis.url
    sink = new RedisSink(REDIS_URL, { stream: keys.stream, cursorKey: keys.cursorKey, deadLetterStream: keys.dead, group: 'firehose-processors', maxLen: 0, trim: 'safe', deadLetterMaxLen: 10 }, silentLogger, {
      initialMs: 10,
      maxMs: 100,
    })
    await sink.whenReady()
    admin = new Redis(REDIS_URL)
  })
  afterAll(async () => {
    await admin.del(keys.stream, keys.cursorKey, keys.dead, repoStateKeyOf(keys.stream), snapshotProgressKeyOf(keys.stream))
    admin.disconnect()
    await sink.close()
    await redis.stop()
  })

  it('applies entries, dead letters and the cursor together when the stored cursor is the expected one', async () => {
    await sink.ensureGroup()
    await sink.ensureGroup() // BUSYGROUP is fine
    const outcome = await sink.write({ expected: '', next: '3', entries: entries(1, 3), dead: [{ seq: 4, code: 'FRAME_TRUNCATED', message: 'cut', bytes: Uint8Array.of(0xa1, 0xff, 0x00) }] })
    expect(outcome).toMatchObject({ kind: 'applied', lastId: expect.stringMatching(/^\d+-\d+$/) })
    expect(await admin.get(keys.cursorKey)).toBe('3')
    expect((await readStream(REDIS_URL, keys.stream)).map((f) => f[5])).toEqual(['1', '2', '3'])
    const [dead] = await admin.xrangeBuffer(keys.dead, '-', '+')
    const fields = dead![1].map((b) => b.toString('latin1'))
    expect(fields.slice(0, 6)).toEqual(['seq', '4', 'code', 'FRAME_TRUNCATED', 'message', 'cut'])
    expect(dead![1][7]).toEqual(Buffer.from([0xa1, 0xff, 0x00])) // raw bytes, byte for byte
    const groups = (await admin.xinfo('GROUPS', keys.stream)) as unknown[][]
    expect(groups.map((g) => g[1])).toEqual(['firehose-processors'])
  })

  it('writes nothing and reports the stored cursor when the stored cursor is not the expected one', async () => {
    const before = await admin.xlen(keys.stream)
    const outcome = await sink.write({ expected: '2', next: '6', entries: entries(4, 6), dead: [] })
    expect(outcome).toEqual({ kind: 'cas-mismatch', stored: '3' })
    expect(await admin.xlen(keys.stream)).toBe(before)
    expect(await admin.xlen(keys.dead)).toBe(1)
    expect(await admin.get(keys.cursorKey)).toBe('3')
  })

  it('reloads the script after SCRIPT FLUSH (NOSCRIPT), running it exactly once', async () => {
    await admin.script('FLUSH')
    const outcome = await sink.write({ expected: '3', next: '5', entries: entries(4, 5), dead: [] })
    expect(outcome.kind).toBe('applied')
    expect((await readStream(REDIS_URL, keys.stream)).map((f) => f[5])).toEqual(['1', '2', '3', '4', '5'])
  })

  it('refuses to move the cursor backwards, writing nothing, unless the batch allows it (I15)', async () => {
    const before = await admin.xlen(keys.stream)
    expect(await sink.write({ expected: '5', next: '4', entries: entries(4, 4), dead: [{ seq: 4, code: 'X', message: 'm', bytes: Uint8Array.of(1) }] })).toEqual({ kind: 'cursor-backwards', stored: '5' })
    // Numeric, not string, order: '10' < '5' as strings.
    expect((await sink.write({ expected: '5', next: '10', entries: entries(6, 10), dead: [] })).kind).toBe('applied')
    expect(await sink.write({ expected: '10', next: '9', entries: [], dead: [] })).toEqual({ kind: 'cursor-backwards', stored: '10' })
    expect(await admin.xlen(keys.stream)).toBe(before + 5)
    expect(await admin.xlen(keys.dead)).toBe(1)
    expect(await admin.get(keys.cursorKey)).toBe('10')
    expect((await sink.write({ expected: '10', next: '2', entries: entries(1, 2), dead: [], cursorMayGoLower: true })).kind).toBe('applied')
    expect(await admin.get(keys.cursorKey)).toBe('2')
  })

  it('--trim unsafe: trims with MAXLEN ~ even entries no group has read', async () => {
    const trimmed = uniqueKeys('test:cas-trim')
    const small = new RedisSink(REDIS_URL, { stream: trimmed.stream, cursorKey: trimmed.cursorKey, deadLetterStream: trimmed.dead, group: 'g', maxLen: 100, trim: 'unsafe', deadLetterMaxLen: 10 }, silentLogger, {
      initialMs: 10,
      maxMs: 100,
    })
    try {
      await small.whenReady()
      await small.ensureGroup() // a group that never reads: unsafe trimming ignores it
      let expected = ''
      for (let batch = 0; batch < 10; batch++) {
        const next = String((batch + 1) * 100)
        expect((await small.write({ expected, next, entries: entries(batch * 100 + 1, (batch + 1) * 100), dead: [] })).kind).toBe('applied')
        expected = next
      }
      const length = await admin.xlen(trimmed.stream)
      expect(length).toBeGreaterThanOrEqual(100)
      expect(length).toBeLessThan(1000)
    } finally {
      await admin.del(trimmed.stream, trimmed.cursorKey)
      await small.close()
    }
  })

  it('per-repo state (I23): each hash field is compare-and-set with the entries and the cursor; a field holding another value writes nothing', async () => {
    const repos = repoStateKeyOf(keys.stream)
    const cursor = (await admin.get(keys.cursorKey))!
    const next = String(Number(cursor) + 2)
    const state = Buffer.from([0x00, 0xff, 0x10])
    // Binary values go through byte for byte.
    const applied = await sink.write({ expected: cursor, next, entries: entries(Number(cursor) + 1, Number(next)), dead: [], hashUpdates: [{ hash: 'repos', field: 'did:plc:a', expected: '', next: state }] })
    expect(applied.kind).toBe('applied')
    expect(await admin.hgetBuffer(repos, 'did:plc:a')).toEqual(state)
    const before = await admin.xlen(keys.stream)
    const further = String(Number(next) + 1)
    // We believe no state is stored; another is: nothing written, not the cursor, not the other field.
    const refused = await sink.write({
      expected: next,
      next: further,
      entries: entries(Number(further), Number(further)),
      dead: [],
      hashUpdates: [
        { hash: 'snapshots', field: 'did:plc:a', expected: '', next: 'progress' },
        { hash: 'repos', field: 'did:plc:a', expected: '', next: Buffer.from([1]) },
      ],
    })
    expect(refused).toEqual({ kind: 'hash-mismatch', field: 'did:plc:a', holdsNext: false })
    expect(await admin.xlen(keys.stream)).toBe(before)
    expect(await admin.get(keys.cursorKey)).toBe(next)
    expect(await admin.exists(snapshotProgressKeyOf(keys.stream))).toBe(0)
    // The same write sent again after it ran (an unanswered attempt): the field holds its value, so it was applied.
    const again = await sink.write({ expected: next, next, entries: [], dead: [], hashUpdates: [{ hash: 'repos', field: 'did:plc:a', expected: '', next: state }] })
    expect(again).toEqual({ kind: 'hash-mismatch', field: 'did:plc:a', holdsNext: true })
    // A field deleted: next ''.
    expect((await sink.write({ expected: next, next, entries: [], dead: [], hashUpdates: [{ hash: 'repos', field: 'did:plc:a', expected: state, next: '' }] })).kind).toBe('applied')
    expect(await admin.hexists(repos, 'did:plc:a')).toBe(0)
  })
})

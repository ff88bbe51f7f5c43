import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { SeededRandom } from '../../common/random.js'
import { RedisConfigError } from '../../ingestor/errors.js'
import { RedisSink, type WriteBatch } from '../../ingestor/redis-sink.js'
import { WRITE_BATCH } from '../../ingestor/write-script.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import { repoStateKeyOf, snapshotProgressKeyOf } from '../../common/contract.js'
import { ownRedisForSuite, uniqueKeys } from './helpers.js'

/** FIREHOSE_TEST_SEED reruns a failure; the seed is in every assertion message. */
const SEED = Number(process.env.FIREHOSE_TEST_SEED ?? 14)
const MAX_LEN = 10
const GROUP = 'g'
const OPEN_SNAPSHOT = 'did:plc:opensnapshot'

/** Every command the write script can run (its Lua text, so a new command is covered as soon as it is added). */
const SCRIPT_COMMANDS = [...new Set([...WRITE_BATCH.lua.matchAll(/redis\.call\('([A-Z]+)'/g)].map((match) => match[1]!))].sort()

type Keys = ReturnType<typeof uniqueKeys>

function entries(random: SeededRandom, from: number, count: number): StreamEntry[] {
  return Array.from({ length: count }, (_, i) => ({ type: 'identity' as const, seq: from + i, data: JSON.stringify({ did: `did:plc:${random.int(0, 1e9)}`, seq: from + i }) }))
}

/** Everything a write can change, to compare before and after a refused one. */
async function snapshot(admin: Redis, keys: Keys): Promise<unknown[]> {
  const state: unknown[] = []
  for (const key of [keys.stream, keys.cursorKey, keys.dead, repoStateKeyOf(keys.stream), snapshotProgressKeyOf(keys.stream)]) {
    const type = await admin.type(key)
    if (type === 'stream') state.push(key, type, await admin.xrange(key, '-', '+'))
    else if (type === 'string') state.push(key, type, await admin.get(key))
    else state.push(key, type, type === 'hash' ? await admin.hgetall(key) : null)
  }
  return state
}

/**
 * The write script is all or nothing whatever Redis answers (docs/invariants.md I21): Redis does
 * not roll back a script that fails halfway, so a command refused after the first XADD would
 * leave the entries without their cursor, and the retry would write them again.
 */
describe('a write is all or nothing: a fault at any command of the script writes nothing, and the next write is exactly once', () => {
  const own = ownRedisForSuite()
  const random = new SeededRandom(SEED)
  let seq = 0

  /**
   * A stream a write will trim after its entries: MAX_LEN - 2 entries, read by a group that
   * acknowledged all but two (XINFO, XPENDING, XTRIM, XLEN, XRANGE all run after the XADDs).
   */
  async function prepared(sink: RedisSink, keys: Keys): Promise<string> {
    await sink.ensureGroup()
    const first = entries(random, seq + 1, MAX_LEN - 2)
    seq += first.length
    expect((await sink.write({ expected: '', next: String(seq), entries: first, dead: [] })).kind).toBe('applied')
    const read = (await own.admin.xreadgroup('GROUP', GROUP, 'c', 'STREAMS', keys.stream, '>')) as [string, [string, string[]][]][]
    const ids = read[0]![1].map(([id]) => id)
    await own.admin.xack(keys.stream, GROUP, ...ids.slice(0, -2))
    // An open snapshot the write closes (HDEL runs after the XADDs).
    await own.admin.hset(snapshotProgressKeyOf(keys.stream), OPEN_SNAPSHOT, 'progress')
    return String(seq)
  }

  /** With `closesSnapshot` (after prepared()): also a new per-repo state (HSET) and the open snapshot closed (HDEL), compare-and-set. */
  function batch(expected: string, closesSnapshot = false): WriteBatch {
    const count = random.int(3, 12)
    const written = entries(random, seq + 1, count)
    const dead = Array.from({ length: random.int(1, 3) }, () => ({ seq: seq + count + 1, code: 'FRAME_BAD_CAR', message: 'not a CAR', bytes: random.bytes(random.int(1, 64)) }))
    const hashUpdates: WriteBatch['hashUpdates'] = closesSnapshot
      ? [
          { hash: 'repos', field: `did:plc:${random.int(0, 1e9)}`, expected: '', next: Buffer.from(random.bytes(41)) },
          { hash: 'snapshots', field: OPEN_SNAPSHOT, expected: 'progress', next: '' },
        ]
      : []
    return { expected, next: String(seq + count), entries: written, dead, hashUpdates }
  }

  function sinkFor(url: string, keys: Keys): RedisSink {
    return new RedisSink(url, { stream: keys.stream, cursorKey: keys.cursorKey, deadLetterStream: keys.dead, group: GROUP, maxLen: MAX_LEN, trim: 'safe', deadLetterMaxLen: 100 }, silentLogger, {
      initialMs: 10,
      maxMs: 100,
    })
  }

  /** The refused write changed nothing; after `clear` the same write is applied once: the stream holds the batch exactly once. */
  async function expectNothingThenOnce(sink: RedisSink, permitted: RedisSink, keys: Keys, write: WriteBatch, refused: (err: unknown) => void, clear: () => Promise<void>, label: string): Promise<void> {
    const before = await snapshot(own.admin, keys)
    const error = await sink.write(write).then(
      (outcome) => new Error(`applied: ${JSON.stringify(outcome)}`),
      (err: unknown) => err,
    )
    refused(error)
    expect(await snapshot(own.admin, keys), `${label}, seed ${SEED}: state after the refused write`).toEqual(before)
    await clear()
    expect((await permitted.write(write)).kind, `${label}, seed ${SEED}`).toBe('applied')
    const seqs = (await own.admin.xrange(keys.stream, '-', '+')).map(([, fields]) => Number(fields[5]))
    const mine = write.entries.map((entry) => entry.seq)
    expect(
      seqs.filter((s) => mine.includes(s)),
      `${label}, seed ${SEED}: each entry of the write once`,
    ).toEqual(mine)
    expect(await own.admin.get(keys.cursorKey)).toBe(write.next)
    seq = Number(write.next)
  }

  it('lists the commands it covers: the script runs no command this test does not deny', () => {
    expect(SCRIPT_COMMANDS).toEqual(['GET', 'HDEL', 'HGET', 'HSET', 'SET', 'TYPE', 'XADD', 'XINFO', 'XLEN', 'XPENDING', 'XRANGE', 'XTRIM'])
  })

  describe.each(SCRIPT_COMMANDS)('an ACL user without %s', (command) => {
    const user = `no${command.toLowerCase()}`
    beforeAll(async () => {
      await own.admin.call('ACL', 'SETUSER', user, 'on', '>pw', '~*', '+@all', `-${command.toLowerCase()}`)
    })

    it('refuses with REDIS_NOPERM naming it, nothing written; the next permitted write is exactly once', async () => {
      const keys = uniqueKeys('test:all-or-nothing')
      const admin = sinkFor(own.redis.url, keys)
      const url = new URL(own.redis.url)
      url.username = user
      url.password = 'pw'
      const denied = sinkFor(url.toString(), keys)
      try {
        await admin.whenReady()
        await denied.whenReady()
        const cursor = await prepared(admin, keys)
        await expectNothingThenOnce(
          denied,
          admin,
          keys,
          batch(cursor, true),
          (err) => {
            expect(err, `seed ${SEED}`).toBeInstanceOf(RedisConfigError)
            expect(err).toMatchObject({ code: 'REDIS_NOPERM' })
            expect((err as Error).message).toMatch(new RegExp(`${command}|can't run this command`))
          },
          async () => undefined,
          `without ${command}`,
        )
      } finally {
        await denied.close()
        await admin.close()
        await own.admin.del(keys.stream, keys.cursorKey, keys.dead, repoStateKeyOf(keys.stream), snapshotProgressKeyOf(keys.stream))
      }
    })
  })

  it('an ACL user whose key patterns leave out the dead-letter stream: refused before the script runs', async () => {
    const keys = uniqueKeys('test:all-or-nothing')
    await own.admin.call('ACL', 'SETUSER', 'nodeadkey', 'on', '>pw', 'resetkeys', `~${keys.stream}`, `~${keys.cursorKey}`, '+@all')
    const admin = sinkFor(own.redis.url, keys)
    const url = new URL(own.redis.url)
    url.username = 'nodeadkey'
    url.password = 'pw'
    const denied = sinkFor(url.toString(), keys)
    try {
      await admin.whenReady()
      await denied.whenReady()
      const cursor = await prepared(admin, keys)
      await expectNothingThenOnce(
        denied,
        admin,
        keys,
        batch(cursor),
        (err) => expect(err).toMatchObject({ code: 'REDIS_NOPERM', message: expect.stringMatching(/keys used as arguments/) }),
        async () => undefined,
        'dead-letter key denied',
      )
    } finally {
      await denied.close()
      await admin.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })

  it.each([
    ['the dead-letter stream holds a string', (keys: Keys) => keys.dead, (key: string) => own.admin.set(key, 'x'), 'string', 'stream'],
    ['the cursor key holds a hash', (keys: Keys) => keys.cursorKey, (key: string) => own.admin.hset(key, 'a', '1'), 'hash', 'string'],
    ['the stream key holds a list', (keys: Keys) => keys.stream, (key: string) => own.admin.rpush(key, 'x'), 'list', 'stream'],
  ])('%s: refused with REDIS_WRONGTYPE naming the key and its type, nothing written', async (_name, keyOf, spoil, type, expected) => {
    const keys = uniqueKeys('test:all-or-nothing')
    const sink = sinkFor(own.redis.url, keys)
    try {
      await sink.whenReady()
      const key = keyOf(keys)
      const cursor = key === keys.stream ? '' : await prepared(sink, keys)
      if (key === keys.cursorKey) await own.admin.del(key)
      await spoil(key)
      // The cursor key as a hash has no cursor to compare: the write expects the one it had.
      const write = batch(cursor)
      await expectNothingThenOnce(
        sink,
        sink,
        keys,
        write,
        (err) => expect(err).toMatchObject({ code: 'REDIS_WRONGTYPE', fields: { key, type, expected } }),
        async () => {
          await own.admin.del(key)
          if (key === keys.cursorKey) await own.admin.set(key, cursor)
          if (key === keys.stream) await sink.ensureGroup()
        },
        `${key} as a ${type}`,
      )
    } finally {
      await sink.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })

  it('Redis out of memory (maxmemory, noeviction): refused at the first write command, nothing written, then exactly once', async () => {
    const keys = uniqueKeys('test:all-or-nothing')
    const sink = sinkFor(own.redis.url, keys)
    const limits = new Redis(own.redis.url)
    try {
      await sink.whenReady()
      const cursor = await prepared(sink, keys)
      await limits.config('SET', 'maxmemory-policy', 'noeviction')
      await limits.config('SET', 'maxmemory', '1')
      await expectNothingThenOnce(
        sink,
        sink,
        keys,
        batch(cursor),
        (err) => {
          expect(err).not.toBeInstanceOf(RedisConfigError) // retried by the ingestor, not fatal
          expect((err as Error).message).toMatch(/^OOM/)
        },
        async () => void (await limits.config('SET', 'maxmemory', '0')),
        'OOM',
      )
    } finally {
      await limits.config('SET', 'maxmemory', '0')
      limits.disconnect()
      await sink.close()
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })

  afterAll(async () => {
    for (const command of SCRIPT_COMMANDS) await own.admin.call('ACL', 'DELUSER', `no${command.toLowerCase()}`)
  })
})

/**
 * The write script's EVALSHA, RESP-encoded by us in one buffer (ingestor/resp-command.ts), must be
 * the bytes ioredis writes for the same arguments, and run the same against a real Redis.
 * Seeded (fast-check prints the seed; rerun with FIREHOSE_FUZZ_SEED=<seed>).
 */
import fc from 'fast-check'
import { Command, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RedisHandle } from '../../harness/redis/index.js'
import { luaScript, loadLuaScript, runLuaScript } from '../../ingestor/lua-script.js'
import { encodeRespCommand } from '../../ingestor/resp-command.js'
import { startOwnRedis } from './helpers.js'

const SEED = Number(process.env.FIREHOSE_FUZZ_SEED ?? 0x4e5b)

function ioredisBytes(name: string, args: (string | Buffer)[]): Buffer {
  const writable = new Command(name, args).toWritable({})
  return typeof writable === 'string' ? Buffer.from(writable) : writable
}

const arg = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 70 }),
  fc.constantFrom('', '0', 'type', 'data', 'seq', 'commit'),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.integer({ min: 0, max: 1000 }).map((n) => Buffer.alloc(n, 0x61)),
)

describe('RESP encoding of script calls', () => {
  it(`is byte for byte what ioredis writes (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 40 }), (args) => {
        expect(encodeRespCommand('evalsha', args).equals(ioredisBytes('evalsha', args))).toBe(true)
      }),
      { seed: SEED, numRuns: 2000 },
    )
  })

  it('matches on a write-sized call: a thousand entries of contract fields', () => {
    const args: (string | Buffer)[] = ['stream', 'cursor', '', '41', '0', 'safe', '0', '10000', '1000', '0']
    for (let i = 0; i < 1000; i++) args.push('type', 'commit', 'data', Buffer.from(JSON.stringify({ seq: i, text: 'é😀'.repeat(i % 7) })), 'seq', String(i))
    expect(encodeRespCommand('evalsha', args).equals(ioredisBytes('evalsha', args))).toBe(true)
  })
})

describe('runLuaScript with our encoding, against Redis', () => {
  let redis: RedisHandle
  let client: Redis
  beforeAll(async () => {
    // Our own server: SCRIPT FLUSH below must not touch anyone else's scripts.
    redis = await startOwnRedis()
    client = new Redis(redis.url)
  })
  afterAll(async () => {
    client.disconnect()
    await redis.stop()
  })

  it(`Redis receives every key and argument as sent, loading the script after SCRIPT FLUSH (seed ${SEED})`, async () => {
    const echo = luaScript('local out = {} for i, k in ipairs(KEYS) do out[#out + 1] = k end for i, a in ipairs(ARGV) do out[#out + 1] = a end return out')
    await loadLuaScript(client, echo)
    const samples = fc.sample(fc.array(arg, { minLength: 1, maxLength: 20 }), { seed: SEED, numRuns: 50 })
    for (const [i, args] of samples.entries()) {
      if (i === 25) await client.script('FLUSH')
      const reply = (await runLuaScript(client, echo, 1, args)) as string[]
      expect(reply).toEqual(args.map((a) => (typeof a === 'string' ? a : a.toString('utf8'))))
    }
    // Numbers go as ioredis sends them.
    expect(await runLuaScript(client, echo, 1, ['k', 12, 0])).toEqual(['k', '12', '0'])
  })
})

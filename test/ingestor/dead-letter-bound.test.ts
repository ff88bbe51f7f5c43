import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil } from '../../harness/wait.js'
import { DEAD_LETTER_ENTRY_MAX_BYTES, DEAD_LETTER_HEAD_BYTES, DEAD_LETTER_WHOLE_BYTES, deadLetterFields, deadLetterMaxEntries } from '../../ingestor/dead-letter.js'
import { loadIngestor, ownRedisForSuite, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const MIB = 1024 * 1024

describe('the dead-letter stream is bounded in bytes, not only in entries (ingestor/dead-letter.ts)', () => {
  it('keeps a frame up to DEAD_LETTER_WHOLE_BYTES whole; a larger one keeps its first KiB, its length and its SHA-256', () => {
    const small = new Uint8Array(DEAD_LETTER_WHOLE_BYTES).fill(7)
    const [, , , kept, length, sha] = deadLetterFields({ seq: 5, code: 'C', message: 'm', bytes: small })
    expect([(kept as Buffer).byteLength, length, sha]).toEqual([DEAD_LETTER_WHOLE_BYTES, String(DEAD_LETTER_WHOLE_BYTES), createHash('sha256').update(small).digest('hex')])
    const large = new Uint8Array(4 * MIB).map((_, i) => i % 251)
    const [seq, , , head, largeLength, largeSha] = deadLetterFields({ seq: null, code: 'C', message: 'x'.repeat(10_000), bytes: large })
    expect(seq).toBe('')
    expect(head).toEqual(Buffer.from(large.subarray(0, DEAD_LETTER_HEAD_BYTES)))
    expect([largeLength, largeSha]).toEqual([String(4 * MIB), createHash('sha256').update(large).digest('hex')])
  })

  it('the entry bound is lowered so that entries of the largest size fit in the byte bound', () => {
    expect(deadLetterMaxEntries(10_000, 64 * MIB)).toBe(Math.floor((64 * MIB) / DEAD_LETTER_ENTRY_MAX_BYTES))
    expect(deadLetterMaxEntries(100, 64 * MIB)).toBe(100)
    expect(deadLetterMaxEntries(10_000, 1)).toBe(1)
  })

  describe('a relay flooding garbage', () => {
    const temp = tempDir()
    const own = ownRedisForSuite()
    const BOUND = 1 * MIB
    let fixture: string
    beforeAll(async () => {
      fixture = await writeFixture(join(temp.dir, 'flood.fixture.gz'), sequencedRealFrames(200))
    })
    afterAll(() => temp.cleanup())

    it.each([
      ['60 frames of 4 MiB (each cut to its first KiB)', 60, 4 * MIB],
      ['300 frames of 16 KiB (kept whole; the oldest trimmed)', 300, DEAD_LETTER_WHOLE_BYTES],
    ])('%s: Redis memory of the dead-letter stream stays under --dead-letter-max-mb, every frame counted, nothing else lost', async (_name, count, bytes) => {
      const relay = await replay([fixture], { start: 'first-client', faults: [{ kind: 'garbage', atFrame: 100, count, bytes }], seed: 14 })
      const keys = uniqueKeys('test:dead-bound')
      const { startIngestor } = await loadIngestor()
      const handle = await startIngestor({
        relayUrl: relay.url,
        redisUrl: own.redis.url,
        stream: keys.stream,
        cursorKey: keys.cursorKey,
        startCursor: 0,
        statusIntervalMs: 0,
        deadLetterMaxBytes: BOUND,
        maxConsecutiveBadFrames: 1_000_000,
      })
      try {
        await waitUntil(() => handle.status().counters.deadLettered === count && handle.status().storedCursor === 200, { what: `${count} dead letters and cursor 200`, timeoutMs: 60_000 })
      } finally {
        await handle.stop()
        await relay.close()
      }
      const memory = Number(await own.admin.call('MEMORY', 'USAGE', keys.dead, 'SAMPLES', '0'))
      expect(memory).toBeLessThanOrEqual(BOUND)
      expect(await own.admin.xlen(keys.dead)).toBeLessThanOrEqual(deadLetterMaxEntries(10_000, BOUND) + 100) // MAXLEN ~ trims whole nodes
      expect(await own.admin.xlen(keys.stream)).toBe(200)
      const [, fields] = (await own.admin.xrevrangeBuffer(keys.dead, '+', '-', 'COUNT', 1))[0]!
      const named = new Map<string, Buffer>()
      for (let i = 0; i + 1 < fields.length; i += 2) named.set(fields[i]!.toString(), fields[i + 1]!)
      expect(named.get('length')!.toString()).toBe(String(bytes))
      expect(named.get('bytes')!.byteLength).toBe(bytes > DEAD_LETTER_WHOLE_BYTES ? DEAD_LETTER_HEAD_BYTES : bytes)
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
    })
  })
})

import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { SeededRandom } from '../../common/random.js'
import { waitUntil } from '../../harness/wait.js'
import { RedisSink } from '../../ingestor/redis-sink.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import { loadIngestor, readStream, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture, ownRedisForSuite } from './helpers.js'

const GROUPS = ['firehose-processors', 'search-indexer'] as const

function idLess(a: string, b: string): boolean {
  const [ams, aseq] = a.split('-').map(BigInt) as [bigint, bigint]
  const [bms, bseq] = b.split('-').map(BigInt) as [bigint, bigint]
  return ams !== bms ? ams < bms : aseq < bseq
}

/** Small entries share a radix-tree node by the dozen; large ones (> stream-node-max-bytes) get one each: both trim paths run. */
function entry(seq: number, random: SeededRandom): StreamEntry {
  const pad = 'x'.repeat(random.bool(0.5) ? 10 : 3000)
  return { type: 'identity', seq, data: JSON.stringify({ seq, pad }) }
}

interface GroupModel {
  delivered: string[]
  pending: Set<string>
}

describe('safe trimming (--trim safe, ingestor/trim-script.ts)', () => {
  const own = ownRedisForSuite()

  it('never removes an entry a group has not acknowledged, and otherwise keeps exactly --max-len (seeded model check)', async () => {
    const MAX_LEN = 40
    const random = new SeededRandom(8)
    const keys = uniqueKeys('test:trim-model')
    const sink = new RedisSink(own.redis.url, { stream: keys.stream, cursorKey: keys.cursorKey, deadLetterStream: keys.dead, group: GROUPS[0], maxLen: MAX_LEN, trim: 'safe', deadLetterMaxLen: 10 }, silentLogger, {
      initialMs: 10,
      maxMs: 100,
    })
    try {
      await sink.whenReady()
      await sink.ensureGroup()
      await own.admin.xgroup('CREATE', keys.stream, GROUPS[1], '0')
      const written: string[] = [] // every entry ID ever written, in order
      const groups = new Map<string, GroupModel>(GROUPS.map((g) => [g, { delivered: [], pending: new Set<string>() }]))
      let cursor = 0
      let refusals = 0
      /** The model's floor: lowest over groups of the oldest pending entry, else the last delivered one. */
      const floor = (): string => {
        let lowest: string | null = null
        for (const group of groups.values()) {
          const pending = group.delivered.filter((id) => group.pending.has(id))
          const need = pending[0] ?? group.delivered[group.delivered.length - 1] ?? '0-0'
          if (lowest === null || idLess(need, lowest)) lowest = need
        }
        return lowest!
      }
      /** After a trim the stream holds max(MAX_LEN, entries at or above the floor), newest last. */
      const expectTrimmed = async (): Promise<number> => {
        const ids = (await own.admin.xrange(keys.stream, '-', '+')).map(([id]) => id)
        expect(ids).toEqual(written.slice(written.length - ids.length)) // a suffix: only the oldest go
        const needed = written.filter((id) => !idLess(id, floor())).length
        expect(ids.length).toBe(Math.min(written.length, Math.max(MAX_LEN, needed)))
        return ids.length
      }
      for (let step = 0; step < 400; step++) {
        const action = random.int(0, 9)
        if (action < 4) {
          const count = random.int(1, 15)
          const batch = Array.from({ length: count }, (_, i) => entry(cursor + 1 + i, random))
          const before = await own.admin.xlen(keys.stream)
          const outcome = await sink.write({ expected: cursor === 0 ? '' : String(cursor), next: String(cursor + count), entries: batch, dead: [] })
          if (outcome.kind === 'stream-full') {
            refusals++
            expect(outcome.length).toBeGreaterThan(MAX_LEN)
            expect(outcome.floorGroup).not.toBeNull()
            expect(await own.admin.get(keys.cursorKey)).toBe(cursor === 0 ? null : String(cursor))
            expect(await expectTrimmed()).toBeLessThanOrEqual(before)
            continue
          }
          expect(outcome.kind).toBe('applied')
          const all = (await own.admin.xrange(keys.stream, '-', '+')).map(([id]) => id)
          // The batch's own IDs are the newest `count` in the stream.
          written.push(...all.slice(all.length - count))
          cursor += count
          await expectTrimmed()
        } else if (action < 7) {
          const name = random.pick(GROUPS)
          // The second group stops reading for long stretches: the stream fills up behind it.
          if (name === GROUPS[1] && step % 100 < 60) continue
          const reply = (await own.admin.xreadgroup('GROUP', name, 'c', 'COUNT', random.int(1, 20), 'STREAMS', keys.stream, '>')) as [string, [string, string[]][]][] | null
          const group = groups.get(name)!
          for (const [id] of reply?.[0]?.[1] ?? []) {
            group.delivered.push(id)
            group.pending.add(id)
          }
        } else {
          const name = random.pick(GROUPS)
          const group = groups.get(name)!
          const acked = [...group.pending].filter(() => random.bool(0.6))
          if (acked.length > 0) await own.admin.xack(keys.stream, name, ...acked)
          for (const id of acked) group.pending.delete(id)
          const trimmed = await sink.trimStream()
          expect(trimmed.length).toBe(await expectTrimmed())
        }
      }
      // Every group was delivered every entry it read in write order, none skipped by a trim.
      for (const group of groups.values()) expect(group.delivered).toEqual(written.slice(0, group.delivered.length))
      expect(refusals).toBeGreaterThan(0)
    } finally {
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
      await sink.close()
    }
  }, 60_000)

  it('with no consumer group at all, trims to exactly --max-len', async () => {
    const keys = uniqueKeys('test:trim-nogroup')
    const sink = new RedisSink(own.redis.url, { stream: keys.stream, cursorKey: keys.cursorKey, deadLetterStream: keys.dead, group: GROUPS[0], maxLen: 10, trim: 'safe', deadLetterMaxLen: 10 }, silentLogger, {
      initialMs: 10,
      maxMs: 100,
    })
    try {
      await sink.whenReady()
      const random = new SeededRandom(1)
      const batch = Array.from({ length: 25 }, (_, i) => entry(i + 1, random))
      expect((await sink.write({ expected: '', next: '25', entries: batch, dead: [] })).kind).toBe('applied')
      expect((await readStream(own.redis.url, keys.stream)).map((f) => Number(f[5]))).toEqual(Array.from({ length: 10 }, (_, i) => 16 + i))
    } finally {
      await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
      await sink.close()
    }
  })

  describe('the ingestor with --max-len and a group that stops reading', () => {
    const FRAMES = 1200
    const MAX_LEN = 200
    const WRITE_MAX = 100
    const temp = tempDir()
    let fixture: string
    beforeAll(async () => {
      fixture = await writeFixture(join(temp.dir, 'trim.fixture.gz'), sequencedRealFrames(FRAMES))
    })
    afterAll(() => temp.cleanup())

    it('pauses when the stream is full (streamFull, trimBlocked, relay paused), stops cleanly while full, and resumes when the group acknowledges: nothing lost', async () => {
      const relay = await replay([fixture], { start: 'first-client' })
      const keys = uniqueKeys('test:trim-ingest')
      const { startIngestor } = await loadIngestor()
      const options = {
        relayUrl: relay.url,
        redisUrl: own.redis.url,
        stream: keys.stream,
        cursorKey: keys.cursorKey,
        maxLen: MAX_LEN,
        batchSize: 50,
        writeMaxFrames: WRITE_MAX,
        queueFrames: 100,
        statusIntervalMs: 0,
        relayBackoff: { initialMs: 50, maxMs: 200 },
      }
      const first = await startIngestor({ ...options, startCursor: 0 })
      const reader = new Redis(own.redis.url)
      try {
        await waitUntil(() => first.status().streamFull && first.status().relay.paused, { what: 'a full stream and a paused relay', timeoutMs: 20_000 })
        expect(first.status().counters.trimBlocked).toBe(1)
        const length = await own.admin.xlen(keys.stream)
        expect(length).toBeGreaterThan(MAX_LEN)
        expect(length).toBeLessThanOrEqual(MAX_LEN + WRITE_MAX)
        // A graceful stop while full gives up the unwritten frames instead of waiting for the group
        // (which reads nothing until after the stop); the cursor still matches the stream.
        const stopping = first.stop()
        await waitUntil(() => first.status().state === 'stopped', { what: 'the stop to end while the stream is full and no group reads', timeoutMs: 30_000 })
        await stopping
        expect(first.status().stoppedBy).toBe('stop')
        expect(await own.admin.xlen(keys.stream)).toBe(length) // nothing written or trimmed by the stop
        const entries = await readStream(own.redis.url, keys.stream)
        expect(await own.admin.get(keys.cursorKey)).toBe(entries[entries.length - 1]![5])

        const second = await startIngestor(options)
        try {
          // The group now reads and acknowledges everything, as workers do.
          const seqs: number[] = []
          await waitUntil(
            async () => {
              const reply = (await reader.xreadgroup('GROUP', GROUPS[0], 'w', 'COUNT', 100, 'STREAMS', keys.stream, '>')) as [string, [string, string[]][]][] | null
              const got = reply?.[0]?.[1] ?? []
              if (got.length > 0) await reader.xack(keys.stream, GROUPS[0], ...got.map(([id]) => id))
              seqs.push(...got.map(([, fields]) => Number(fields[5])))
              return seqs.length >= FRAMES
            },
            { what: `the group to read ${FRAMES} entries`, timeoutMs: 60_000, intervalMs: 20 },
          )
          expect(seqs).toEqual(Array.from({ length: FRAMES }, (_, i) => i + 1))
          await waitUntil(() => second.status().storedCursor === FRAMES && !second.status().streamFull, { what: 'the last cursor', timeoutMs: 20_000 })
          expect(await own.admin.xlen(keys.stream)).toBeLessThanOrEqual(MAX_LEN + WRITE_MAX)
        } finally {
          await second.stop()
        }
      } finally {
        reader.disconnect()
        await first.stop()
        await relay.close()
        await own.admin.del(keys.stream, keys.cursorKey, keys.dead)
      }
    }, 120_000)
  })
})

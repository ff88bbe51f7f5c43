import { describe, expect, it } from 'vitest'
import { createLegacyQueue } from '../../consumer/legacy-queue.js'
import { addEntries, deadLetters, pendingCount, sampleEntries, streamKey, redisForFile, waitPendingIdle } from './helpers.js'

const own = redisForFile()

describe('createLegacyQueue: the redis-queue.ts drop-in', () => {
  it("runs redis-queue.ts's worker loop unchanged: consume, ack, claimPendingMessages from a dead worker", async () => {
    const stream = streamKey('legacy')
    const entries = sampleEntries(50, 12)
    const ids = await addEntries(own.client, stream, entries)
    const redisQueue = createLegacyQueue({ redis: own.redis.url, stream })
    try {
      await redisQueue.connect()
      // worker-1 takes 10 (the old default count) and dies after acking 4 of them.
      const batch = await redisQueue.consume('worker-1')
      expect(batch.map((e) => [e.messageId, e.type, e.seq])).toEqual(entries.slice(0, 10).map((entry, i) => [ids[i], entry.type, String(entry.seq)]))
      expect(batch[1]!.type === 'identity' ? batch[1]!.data.handle : null).toBe('user1.test')
      for (const event of batch.slice(0, 4)) await redisQueue.ack(event.messageId)

      // worker-2 reclaims the 6 left pending once they are idle, then reads what is new.
      expect(await redisQueue.claimPendingMessages('worker-2', 60_000)).toEqual([])
      await waitPendingIdle(own.client, stream, 100)
      const reclaimed = await redisQueue.claimPendingMessages('worker-2', 100)
      expect(reclaimed.map((e) => [e.seq, e.deliveries])).toEqual(entries.slice(4, 10).map((entry) => [String(entry.seq), 2]))
      const rest = await redisQueue.consume('worker-2', 10)
      expect(rest.map((e) => e.seq)).toEqual(['60', '61'])
      for (const event of [...reclaimed, ...rest]) await redisQueue.ack(event.messageId)
      expect(await pendingCount(own.client, stream)).toBe(0)
    } finally {
      await redisQueue.disconnect()
    }
  })

  it('dead-letters an unparseable entry where the original acked it away', async () => {
    const stream = streamKey('legacy-bad')
    await own.client.xadd(stream, '*', 'type', 'commit', 'data', 'oops', 'seq', '9')
    const redisQueue = createLegacyQueue({ redis: own.redis.url, stream })
    try {
      expect(await redisQueue.consume('worker-1')).toEqual([])
      const [dead] = await deadLetters(own.client, `${stream}:dead-consumer`)
      expect(dead!.fields.slice(0, 6)).toEqual(['type', 'commit', 'data', 'oops', 'seq', '9'])
      expect(dead!.map['dead-reason']).toBe('malformed')
      expect(await pendingCount(own.client, stream)).toBe(0)
    } finally {
      await redisQueue.disconnect()
    }
  })

  it('recreates a group deleted under it (NOGROUP), like the original', async () => {
    const stream = streamKey('legacy-nogroup')
    const redisQueue = createLegacyQueue({ redis: own.redis.url, stream })
    try {
      await redisQueue.connect()
      await own.client.xgroup('DESTROY', stream, 'firehose-processors')
      expect(await redisQueue.consume('worker-1')).toEqual([])
      await addEntries(own.client, stream, sampleEntries(70, 1))
      expect((await redisQueue.consume('worker-1')).map((e) => e.seq)).toEqual(['70'])
    } finally {
      await redisQueue.disconnect()
    }
  })
})

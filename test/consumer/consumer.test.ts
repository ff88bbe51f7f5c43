import { afterEach, describe, expect, it } from 'vitest'
import { FirehoseConsumer } from '../../consumer/consumer.js'
import type { StreamEvent } from '../../consumer/events.js'
import { waitUntil } from '../../harness/wait.js'
import { addEntries, deadLetters, pendingCount, sampleEntries, streamKey, redisForFile, waitPendingIdle } from './helpers.js'

const own = redisForFile()
const consumers: FirehoseConsumer[] = []

/** Short idle and claim periods so redelivery happens within a test. */
function consumer(stream: string, options: Partial<ConstructorParameters<typeof FirehoseConsumer>[0]> = {}): FirehoseConsumer {
  const made = new FirehoseConsumer({ redis: own.redis.url, stream, consumer: 'worker-a', blockMs: 50, minIdleMs: 200, claimIntervalMs: 100, ...options })
  consumers.push(made)
  return made
}

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop()))
})

describe('FirehoseConsumer on real Redis', () => {
  it('hands each entry to the handler as a typed event and acks it', async () => {
    const stream = streamKey('typed')
    const entries = sampleEntries(100, 8)
    const ids = await addEntries(own.client, stream, entries)
    const seen: StreamEvent[] = []
    const worker = consumer(stream)
    await worker.start((event) => void seen.push(event))
    await waitUntil(() => seen.length === 8, { what: '8 events handled', timeoutMs: 10_000 })
    await worker.stop()

    expect(seen.map((e) => [e.messageId, e.type, e.seq, e.deliveries])).toEqual(entries.map((entry, i) => [ids[i], entry.type, entry.seq, 1]))
    expect(seen.map((e) => e.data)).toEqual(entries.map((entry) => JSON.parse(entry.data) as unknown))
    const commit = seen.find((e) => e.type === 'commit')
    // The type narrows the data: a compile-time check as much as a runtime one.
    expect(commit?.type === 'commit' ? commit.data.ops[0]?.path : null).toBe('app.bsky.feed.post/3k0')
    expect(await pendingCount(own.client, stream)).toBe(0)
    expect(worker.stats).toMatchObject({ read: 8, handled: 8, acked: 8, failed: 0, deadLettered: 0 })
  })

  it('leaves an entry whose handler threw unacked, and handles it again after minIdleMs, counted', async () => {
    const stream = streamKey('retry')
    await addEntries(own.client, stream, sampleEntries(200, 4))
    const calls: [number, number][] = []
    const worker = consumer(stream)
    await worker.start((event) => {
      calls.push([event.seq, event.deliveries])
      if (event.seq === 201 && event.deliveries === 1) throw new Error('database busy')
    })
    await waitUntil(() => calls.some(([seq, n]) => seq === 201 && n === 2), { what: 'seq 201 redelivered', timeoutMs: 10_000 })
    await worker.stop()

    expect(calls.filter(([seq]) => seq === 201)).toEqual([
      [201, 1],
      [201, 2],
    ])
    expect(calls.filter(([seq]) => seq !== 201)).toEqual([
      [200, 1],
      [202, 1],
      [203, 1],
    ])
    expect(worker.stats).toMatchObject({ failed: 1, handled: 4, claimed: 1, acked: 4, deadLettered: 0 })
    expect(await pendingCount(own.client, stream)).toBe(0)
  })

  it('dead-letters an entry after maxDeliveries failed deliveries, byte-exact, with the reason and error', async () => {
    const stream = streamKey('poison')
    const entries = sampleEntries(300, 3)
    const ids = await addEntries(own.client, stream, entries)
    const attempts: number[] = []
    const worker = consumer(stream, { maxDeliveries: 3 })
    await worker.start((event) => {
      if (event.seq !== 301) return
      attempts.push(event.deliveries)
      throw new Error('cannot index this')
    })
    await waitUntil(async () => (await own.client.xlen(`${stream}:dead-consumer`)) === 1, { what: 'one dead letter', timeoutMs: 10_000 })
    await worker.stop()

    expect(attempts).toEqual([1, 2, 3])
    const [dead] = await deadLetters(own.client, `${stream}:dead-consumer`)
    expect(dead!.fields.slice(0, 6)).toEqual(['type', entries[1]!.type, 'data', entries[1]!.data, 'seq', '301'])
    expect(dead!.map).toMatchObject({ 'dead-id': ids[1], 'dead-reason': 'handler-failed', 'dead-deliveries': '3', 'dead-consumer': 'worker-a', 'dead-error': 'cannot index this' })
    expect(worker.stats).toMatchObject({ failed: 3, deadLettered: 1 })
    expect(await pendingCount(own.client, stream)).toBe(0)
  })

  it('dead-letters at reclaim an entry whose consumers kept dying on it (never acked, no handler error)', async () => {
    const stream = streamKey('crashloop')
    await addEntries(own.client, stream, sampleEntries(400, 1))
    // Three consumers each take the entry and vanish without acking, like processes killed by it.
    const first = consumer(stream, { consumer: 'dies-1', maxDeliveries: 2 })
    expect((await first.consume()).map((e) => e.deliveries)).toEqual([1])
    await waitPendingIdle(own.client, stream, 200) // minIdleMs
    const second = consumer(stream, { consumer: 'dies-2', maxDeliveries: 2 })
    expect((await second.claimPendingMessages()).map((e) => e.deliveries)).toEqual([2])
    await waitPendingIdle(own.client, stream, 200)
    const third = consumer(stream, { consumer: 'survivor', maxDeliveries: 2 })
    expect(await third.claimPendingMessages()).toEqual([])

    const [dead] = await deadLetters(own.client, `${stream}:dead-consumer`)
    expect(dead!.map).toMatchObject({ seq: '400', 'dead-reason': 'max-deliveries', 'dead-deliveries': '3', 'dead-consumer': 'survivor', 'dead-error': '' })
    expect(await pendingCount(own.client, stream)).toBe(0)
  })

  it('dead-letters entries outside the contract, acks unknown types, and handles the rest', async () => {
    const stream = streamKey('malformed')
    await own.client.xadd(stream, '*', 'type', 'commit', 'data', '{not json', 'seq', '1')
    await own.client.xadd(stream, '*', 'type', 'identity', 'data', '{"did":"did:plc:x"}') // no seq
    await own.client.xadd(stream, '*', 'type', 'labels', 'data', '{}', 'seq', '3') // a type from a newer producer
    await addEntries(own.client, stream, sampleEntries(4, 1))
    const seen: number[] = []
    const worker = consumer(stream, { deadLetterStream: `${stream}:bad` })
    await worker.start((event) => void seen.push(event.seq))
    await waitUntil(() => seen.length === 1, { what: 'the good entry handled', timeoutMs: 10_000 })
    await worker.stop()

    const dead = await deadLetters(own.client, `${stream}:bad`)
    expect(dead.map((d) => [d.map['dead-reason'], d.map['dead-error']])).toEqual([
      ['malformed', expect.stringContaining('data is not JSON')],
      ['malformed', 'fields type, data and seq are not all present'],
    ])
    expect(worker.stats).toMatchObject({ malformed: 2, unknownTypes: 1, deadLettered: 2, handled: 1 })
    expect(await pendingCount(own.client, stream)).toBe(0)
  })

  it('stop() waits for the handler in flight, acks it, and starts no other', async () => {
    const stream = streamKey('stop')
    await addEntries(own.client, stream, sampleEntries(500, 5))
    let started = 0
    let finished = 0
    let finishHandler = (): void => {}
    const worker = consumer(stream, { count: 10 })
    await worker.start(async () => {
      started++
      await new Promise<void>((resolve) => (finishHandler = resolve))
      finished++
    })
    await waitUntil(() => started === 1, { what: 'first handler started', timeoutMs: 10_000 })
    const stopped = worker.stop()
    finishHandler() // the handler in flight ends only once stop() has begun
    await stopped

    expect([started, finished]).toEqual([1, 1])
    expect(worker.stats).toMatchObject({ read: 5, handled: 1, acked: 1, inFlight: 0 })
    // The four read but never started stay pending for a reclaim: nothing is lost.
    expect(await pendingCount(own.client, stream)).toBe(4)
  })

  it('never runs more than maxInFlight handlers nor holds more than count entries', async () => {
    const stream = streamKey('bounded')
    await addEntries(own.client, stream, sampleEntries(600, 40))
    let running = 0
    let maxRunning = 0
    const handled: number[] = []
    const worker = consumer(stream, { count: 8, maxInFlight: 3 })
    const batches: number[] = []
    const consume = worker.consume.bind(worker)
    worker.consume = async (count?: number) => {
      const events = await consume(count)
      batches.push(events.length)
      return events
    }
    await worker.start(async (event) => {
      maxRunning = Math.max(maxRunning, ++running)
      await new Promise((resolve) => setTimeout(resolve, 5))
      running--
      handled.push(event.seq)
    })
    await waitUntil(() => handled.length === 40, { what: '40 events handled', timeoutMs: 10_000 })
    await worker.stop()

    expect(maxRunning).toBe(3)
    expect(Math.max(...batches)).toBe(8)
    expect(handled.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => 600 + i))
  })

  it('maxInFlight 1 (the default) handles events in stream order', async () => {
    const stream = streamKey('order')
    await addEntries(own.client, stream, sampleEntries(700, 30))
    const seen: number[] = []
    const worker = consumer(stream, { count: 7 })
    await worker.start(async (event) => {
      await new Promise((resolve) => setTimeout(resolve, event.seq % 3))
      seen.push(event.seq)
    })
    await waitUntil(() => seen.length === 30, { what: '30 events handled', timeoutMs: 10_000 })
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => 700 + i))
  })
})

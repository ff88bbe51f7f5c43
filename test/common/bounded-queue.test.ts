import { describe, expect, it } from 'vitest'
import { BoundedQueue } from '../../common/bounded-queue.js'
import { SeededRandom } from '../../common/random.js'

interface Item {
  id: number
  size: number
}

const item = (id: number, size = 1): Item => ({ id, size })
const ids = (items: Item[]): number[] => items.map((entry) => entry.id)

function boundedQueue(maxItems: number, maxBytes?: number, lowWater?: number): BoundedQueue<Item> {
  return new BoundedQueue<Item>({ maxItems, bytes: maxBytes === undefined ? undefined : { max: maxBytes, sizeOf: (entry) => entry.size }, lowWater })
}

/** Whether the promise has settled once every pending microtask has run (one event-loop turn, no timer). */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  void promise.then(() => (settled = true))
  await new Promise<void>((resolve) => setImmediate(resolve))
  return settled
}

describe('overflow: the queue never drops or refuses; push() says "full" at either bound so the producer stops (a socket pauses, a reader waits)', () => {
  it('reports full from the item bound on, and keeps what is pushed past it (frames the socket had already read)', () => {
    const queue = boundedQueue(3, 1000)
    expect([1, 2, 3, 4].map((id) => queue.push(item(id)))).toEqual([false, false, true, true])
    expect(queue.size).toBe(4)
    expect(ids(queue.take(10))).toEqual([1, 2, 3, 4])
  })

  it('reports full from the byte bound on, whatever the item count', () => {
    const queue = boundedQueue(100, 50)
    expect(queue.push(item(1, 30))).toBe(false)
    expect(queue.push(item(2, 19))).toBe(false)
    expect(queue.push(item(3, 1))).toBe(true)
    expect([queue.size, queue.bytes, queue.isFull]).toEqual([3, 50, true])
  })

  it('a queue bounded in bytes alone counts no items against it', () => {
    const queue = new BoundedQueue<Item>({ maxItems: Number.POSITIVE_INFINITY, bytes: { max: 10, sizeOf: (entry) => entry.size } })
    for (let id = 0; id < 5000; id++) expect(queue.push(item(id, 0))).toBe(false)
    expect(queue.push(item(5000, 10))).toBe(true)
  })
})

describe('every buffer has a bound: construction refuses a queue bounded by nothing, or by nothing positive', () => {
  it.each([
    ['no bound at all', () => new BoundedQueue<Item>({ maxItems: Number.POSITIVE_INFINITY })],
    ['zero items', () => boundedQueue(0)],
    ['zero bytes', () => boundedQueue(10, 0)],
    ['a low-water mark at the bound itself', () => boundedQueue(10, undefined, 1)],
    ['a negative low-water mark', () => boundedQueue(10, undefined, -0.5)],
  ])('%s', (_name, make) => {
    expect(make).toThrow(RangeError)
  })
})

describe('low water: a paused producer goes on only once the queue is down to a fraction of every bound, so a socket is not toggled on every item', () => {
  it('is below low water only when both the items and the bytes are at or under half (the default)', () => {
    const queue = boundedQueue(10, 100)
    for (let id = 0; id < 5; id++) queue.push(item(id, 20)) // 5 items (half), 100 bytes (full)
    expect([queue.isFull, queue.isBelowLowWater]).toEqual([true, false])
    queue.shift()
    expect(queue.isBelowLowWater).toBe(false) // 4 items, 80 bytes
    queue.take(2)
    expect(queue.isBelowLowWater).toBe(true) // 2 items, 40 bytes
  })

  it('whenBelowLowWater() stays pending past the first removal and resolves at the mark', async () => {
    const queue = boundedQueue(4)
    for (let id = 0; id < 4; id++) queue.push(item(id))
    const space = queue.whenBelowLowWater()
    queue.shift()
    expect(await hasSettled(space)).toBe(false) // 3 left: above 2
    queue.shift()
    expect(await hasSettled(space)).toBe(true)
  })

  it('takes the fraction the caller gives (the recorder resumes at a quarter)', async () => {
    const queue = boundedQueue(Number.POSITIVE_INFINITY, 80, 1 / 4)
    for (let id = 0; id < 8; id++) queue.push(item(id, 10))
    const space = queue.whenBelowLowWater()
    queue.take(5)
    expect(await hasSettled(space)).toBe(false) // 30 bytes: above 20
    queue.shift()
    expect([await hasSettled(space), queue.bytes]).toEqual([true, 20])
  })

  it('resolves at once when already below the mark, and wakes a waiting producer on close so it can stop', async () => {
    const queue = boundedQueue(2)
    expect(await hasSettled(queue.whenBelowLowWater())).toBe(true)
    queue.push(item(1))
    queue.push(item(2))
    const space = queue.whenBelowLowWater()
    expect(await hasSettled(space)).toBe(false)
    queue.close()
    expect(await hasSettled(space)).toBe(true)
  })
})

describe('order and batches: first in, first out; take() bounds a batch in items and bytes but always hands out one item, so an item above the batch bound cannot stall the consumer', () => {
  it('hands out batches in order within both batch bounds, and an oversized item alone', () => {
    const queue = boundedQueue(100, 10_000)
    for (let id = 0; id < 6; id++) queue.push(item(id, 10))
    queue.push(item(6, 2000))
    expect(ids(queue.take(3))).toEqual([0, 1, 2])
    expect(ids(queue.take(100, 25))).toEqual([3, 4])
    expect(queue.peek()?.id).toBe(5)
    expect(ids(queue.take(100, 1))).toEqual([5])
    expect(ids(queue.take(100, 1))).toEqual([6])
    expect([queue.take(100), queue.shift(), queue.peek(), queue.size, queue.bytes]).toEqual([[], undefined, undefined, 0, 0])
  })

  // Rerun one seed with BOUNDED_QUEUE_SEED=<seed>.
  const seed = Number(process.env.BOUNDED_QUEUE_SEED ?? 0x5eed_b0ed)
  it(`keeps order, size and bytes through long runs of pushes and removals, as a plain array would (seed ${seed})`, () => {
    const random = new SeededRandom(seed)
    const queue = boundedQueue(1_000_000, 1_000_000_000)
    const model: Item[] = []
    let modelBytes = 0
    let nextId = 0
    for (let step = 0; step < 20_000; step++) {
      // Pushes outweigh removals early on, so the consumed prefix grows past the compaction point.
      const pushes = random.int(0, step < 10_000 ? 6 : 2)
      for (let i = 0; i < pushes; i++) {
        const entry = item(nextId++, random.int(0, 500))
        queue.push(entry)
        model.push(entry)
        modelBytes += entry.size
      }
      if (random.bool()) {
        const shifted = model.shift()
        modelBytes -= shifted?.size ?? 0
        expect(queue.shift()).toBe(shifted)
      } else {
        const maxItems = random.int(1, 8)
        const maxBytes = random.int(1, 2000)
        let bytes = 0
        let count = 0
        while (count < model.length && count < maxItems && (count === 0 || bytes + model[count]!.size <= maxBytes)) bytes += model[count++]!.size
        modelBytes -= bytes
        expect(ids(queue.take(maxItems, maxBytes))).toEqual(ids(model.splice(0, count)))
      }
      expect([queue.size, queue.bytes]).toEqual([model.length, modelBytes])
    }
  })
})

describe('the consumer waits without polling: whenReady() resolves on the next push, or on close so the consumer can drain what is left and stop', () => {
  it('stays pending while empty and resolves on a push; resolves at once while items wait', async () => {
    const queue = boundedQueue(10)
    const ready = queue.whenReady()
    expect(await hasSettled(ready)).toBe(false)
    queue.push(item(1))
    expect(await hasSettled(ready)).toBe(true)
    expect(await hasSettled(queue.whenReady())).toBe(true)
  })

  it('resolves on close while empty, and items queued before close can still be taken', async () => {
    const empty = boundedQueue(10)
    const ready = empty.whenReady()
    expect(await hasSettled(ready)).toBe(false)
    empty.close()
    expect([await hasSettled(ready), empty.isClosed]).toEqual([true, true])
    const draining = boundedQueue(10)
    draining.push(item(1))
    draining.close()
    expect(ids(draining.take(10))).toEqual([1])
    expect(await hasSettled(draining.whenReady())).toBe(true)
  })
})

describe('clear(): a resync drops everything queued, says how many items went, and lets a waiting producer go on', () => {
  it('empties the queue, counts the dropped items and wakes the producer', async () => {
    const queue = boundedQueue(3, 100)
    for (let id = 0; id < 4; id++) queue.push(item(id, 10))
    const space = queue.whenBelowLowWater()
    expect(queue.clear()).toBe(4)
    expect([queue.size, queue.bytes, queue.isBelowLowWater, await hasSettled(space)]).toEqual([0, 0, true, true])
  })
})

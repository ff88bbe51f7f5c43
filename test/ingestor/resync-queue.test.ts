import { describe, expect, it } from 'vitest'
import { EncodedEntry } from '../../ingestor/encoded-entry.js'
import type { HeldEvent } from '../../ingestor/repo-plan.js'
import { decodeSpilled, ResyncQueue, spillField, type ResyncQueueBounds } from '../../ingestor/resync-queue.js'

/** The resync queue's bounds and overflow policies (ingestor/resync-queue.ts; docs/invariants.md I25). */

const bounds = (overrides: Partial<ResyncQueueBounds>): ResyncQueueBounds => ({ maxPending: 10, maxHeld: 1000, maxHeldBytes: 1 << 20, maxSpilled: 0, maxSpilledBytes: 0, ...overrides })

function held(did: string, seq: number, json = '{}'): HeldEvent {
  return { did, seq, facts: { type: 'commit', rev: '3lqmwr2fvjth3', since: null, prevData: null, data: '' }, entry: new EncodedEntry('commit', seq, Buffer.from(json)) }
}

describe('held events past the memory bounds are spilled to Redis, in order, and once a repo spills its later events spill too (its order stays memory, then spill)', () => {
  it('places them and reads them back', () => {
    const queue = new ResyncQueue(bounds({ maxHeld: 2, maxSpilled: 10, maxSpilledBytes: 1 << 20 }))
    expect(queue.hold(held('a', 1))).toEqual({ to: 'memory' })
    expect(queue.hold(held('b', 2))).toEqual({ to: 'memory' })
    const spilled = queue.hold(held('a', 3, '{"x":3}'))
    expect(spilled).toMatchObject({ to: 'spill', field: spillField('a', 0) })
    expect(decodeSpilled((spilled as { value: string }).value)).toMatchObject({ did: 'a', seq: 3, entry: { type: 'commit', seq: 3, data: '{"x":3}' } })
    // b released: memory has room again, but a keeps spilling (its order).
    queue.release('b')
    expect(queue.hold(held('a', 4))).toMatchObject({ to: 'spill', field: spillField('a', 1) })
    expect(queue.spilledFields('a')).toEqual([spillField('a', 0), spillField('a', 1)])
    expect(queue.release('a')).toMatchObject({ events: [expect.objectContaining({ seq: 1 })], spilled: [spillField('a', 0), spillField('a', 1)], overflowed: false })
    expect([queue.heldEvents, queue.spilledEvents]).toEqual([0, 0])
  })

  it('a value this code did not write reads as nothing (that repo is then resynced again)', () => {
    expect(decodeSpilled('not json')).toBeNull()
    expect(decodeSpilled('{"did":1}')).toBeNull()
  })
})

describe('past the spill bounds too, the repo the event is for loses its held events (counted) and is marked overflowed, so it is resynced again after its snapshot', () => {
  it('by count', () => {
    const queue = new ResyncQueue(bounds({ maxHeld: 3 }))
    expect([queue.hold(held('a', 1)), queue.hold(held('a', 2)), queue.hold(held('b', 3))].map((p) => p.to)).toEqual(['memory', 'memory', 'memory'])
    // The fourth event is for a: a's two and this one are dropped; b keeps its own.
    expect(queue.hold(held('a', 4))).toEqual({ to: 'dropped', count: 3 })
    expect(queue.heldEvents).toBe(1)
    // An overflowed repo drops every later event too, until its snapshot.
    expect(queue.hold(held('a', 5))).toEqual({ to: 'dropped', count: 1 })
    expect(queue.release('a')).toMatchObject({ events: [], overflowed: true })
    expect(queue.release('b').events.map((event) => event.seq)).toEqual([3])
    expect([queue.heldEvents, queue.heldBytes]).toEqual([0, 0])
  })

  it('by bytes (entry JSON plus a per-event overhead)', () => {
    const queue = new ResyncQueue(bounds({ maxHeldBytes: 2 * (256 + 100) }))
    const json = JSON.stringify({ pad: 'x'.repeat(90) })
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(100)
    expect(queue.hold(held('a', 1, json)).to).toBe('memory')
    expect(queue.hold(held('b', 2, json)).to).toBe('memory')
    expect(queue.hold(held('c', 3, json))).toEqual({ to: 'dropped', count: 1 })
    expect(queue.heldEvents).toBe(2)
  })
})

describe("a held entry is copied out of the decoded batch's buffer (a view would keep the whole batch in memory for as long as the repo resyncs)", () => {
  it('does not alias the source bytes', () => {
    const queue = new ResyncQueue(bounds({}))
    const batch = Buffer.from('{"a":1}{"b":2}')
    const event: HeldEvent = { ...held('a', 1), entry: new EncodedEntry('commit', 1, batch.subarray(0, 7)) }
    queue.hold(event)
    batch.fill(0x20) // the batch's buffer reused for the next one
    const kept = queue.release('a').events[0]!.entry as EncodedEntry
    expect(kept.data).toBe('{"a":1}')
  })
})

describe('repos waiting for a resync are bounded; past the bound a sweep of Redis is owed (their state there says desynchronized), and a sweep waits for room', () => {
  it('refuses past maxPending, asks for a sweep, and lets it go on at half', async () => {
    const queue = new ResyncQueue(bounds({ maxPending: 4 }))
    for (const did of ['a', 'b', 'c', 'd']) expect(queue.request(did)).toBe(true)
    expect(queue.request('a')).toBe(true) // asked twice is once
    expect(queue.request('e')).toBe(false)
    expect(queue.needsSweep).toBe(true)
    let room = false
    const waiting = queue.whenRoom().then(() => (room = true))
    expect(queue.take()).toBe('a')
    await Promise.resolve()
    expect(room).toBe(false)
    expect(queue.take()).toBe('b')
    await waiting
    expect(room).toBe(true)
  })
})

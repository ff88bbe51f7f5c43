import { describe, expect, it } from 'vitest'
import { BatchChannel } from '../../ingestor/batch-channel.js'
import { CRASH_POINTS, parseCrashAt } from '../../ingestor/crash-points.js'
import { FrameQueue } from '../../ingestor/frame-queue.js'
import { resolveOptions } from '../../ingestor/options.js'
import { SeqTracker } from '../../ingestor/seq-tracker.js'
import { parseStoredCursor } from '../../ingestor/stored-cursor.js'

const frame = (bytes: number, seq?: number) => ({ bytes: new Uint8Array(bytes), seq, receivedAtUs: 0 })

describe('FrameQueue', () => {
  it('reports full at either bound, takes batches by count and bytes in order, and is below low water at half', () => {
    const queue = new FrameQueue(10, 1000)
    for (let i = 0; i < 9; i++) expect(queue.push(frame(10, i))).toBe(false)
    expect(queue.push(frame(10, 9))).toBe(true) // 10 frames
    expect(queue.isBelowLowWater).toBe(false)
    expect(queue.take(3, 1_000_000).map((f) => f.seq)).toEqual([0, 1, 2])
    expect(queue.take(100, 25).map((f) => f.seq)).toEqual([3, 4])
    expect(queue.isBelowLowWater).toBe(true) // 5 frames, 50 bytes
    expect(queue.push(frame(2000, 10))).toBe(true) // the byte bound
    expect(queue.take(1, 1).map((f) => f.seq)).toEqual([5]) // always at least one frame
    expect(queue.clear()).toBe(5)
    expect([queue.frames, queue.bytes]).toEqual([0, 0])
  })

  it('wakes a waiting consumer on push and on close', async () => {
    const queue = new FrameQueue(10, 1000)
    const ready = queue.whenReady()
    queue.push(frame(1))
    await ready
    queue.take(10, 1000)
    const closed = queue.whenReady()
    queue.close()
    await closed
    expect(queue.isClosed).toBe(true)
  })
})

describe('SeqTracker', () => {
  it('classifies next, jump, repeat, backwards and, after a reconnect, what the relay resends', () => {
    const tracker = new SeqTracker()
    tracker.reset(10)
    expect([9, 10, 11, 12, 15, 15, 13, 16].map((seq) => tracker.classify(seq))).toEqual(['known', 'known', 'next', 'next', 'jump', 'repeat', 'backwards', 'next'])
    expect(tracker.position).toBe(16)
    tracker.newConnection()
    expect([14, 16, 17].map((seq) => tracker.classify(seq))).toEqual(['known', 'known', 'next'])
    tracker.reset(null)
    expect(tracker.classify(3)).toBe('next') // a new seq space after FutureCursor (live)
  })
})

describe('BatchChannel', () => {
  it('blocks put() at capacity until take(), returns null once closed and empty, clear() drops waiting items', async () => {
    const channel = new BatchChannel<number>(2)
    await channel.put(1)
    await channel.put(2)
    let third = false
    const putting = channel.put(3).then(() => (third = true))
    await Promise.resolve()
    expect(third).toBe(false)
    expect(await channel.take()).toBe(1)
    await putting
    expect(channel.clear()).toEqual([2, 3])
    channel.close()
    expect(await channel.take()).toBeNull()
  })
})

describe('options and parsing', () => {
  it('parses crash points (with the MULTI/EXEC-era alias) and rejects anything else', () => {
    for (const point of CRASH_POINTS) expect(parseCrashAt(`${point}:2`)).toEqual({ point, at: 2 })
    expect(parseCrashAt('after-xadd-before-exec:3')).toEqual({ point: 'mid-batch', at: 3 })
    for (const bad of ['before-write', 'before-write:0', 'nowhere:1', 'before-write:x']) {
      expect(() => parseCrashAt(bad)).toThrow(expect.objectContaining({ code: 'INGESTOR_INVALID_CRASH_POINT' }))
    }
  })

  it('fills defaults and rejects unusable values with INGESTOR_INVALID_OPTION', () => {
    const resolved = resolveOptions({ relayUrl: 'ws://x/xrpc/com.atproto.sync.subscribeRepos', redisUrl: 'redis://x' })
    expect(resolved).toMatchObject({ stream: 'firehose:events', cursorKey: 'firehose:cursor', deadLetterStream: 'firehose:events:dead', group: 'firehose-processors', batchSize: 500 })
    for (const bad of [{ batchSize: 0 }, { queueFrames: 10, batchSize: 100 }, { maxLen: -1 }, { stream: '' }, { deadLetterStream: 'firehose:events' }]) {
      expect(() => resolveOptions({ relayUrl: 'ws://x', redisUrl: 'redis://x', ...bad })).toThrow(expect.objectContaining({ code: 'INGESTOR_INVALID_OPTION' }))
    }
  })

  it('reads a stored cursor strictly', () => {
    expect(parseStoredCursor('', 'k')).toBeNull()
    expect(parseStoredCursor('123', 'k')).toBe(123)
    for (const bad of ['-1', '1e3', 'abc', '12.5']) expect(() => parseStoredCursor(bad, 'k')).toThrow(expect.objectContaining({ code: 'INGESTOR_BAD_STORED_CURSOR' }))
  })
})

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
  // Items are frame counts; each frame weighs 10 bytes.
  const channel = (): BatchChannel<number> => new BatchChannel<number>(4, 1000, (frames) => ({ frames, bytes: frames * 10 }))

  it('refuses an item once closed (a resync step put after the write loop ended would wait forever), and wakes a put waiting for room with the refusal', async () => {
    const c = channel()
    await c.put(4)
    const waiting = c.put(1)
    c.close()
    await expect(waiting).rejects.toThrow('closed')
    await expect(c.put(1)).rejects.toThrow('closed')
  })

  it('blocks put() beyond its frame bound until the writer takes everything waiting, returns null once closed and empty', async () => {
    const ch = channel()
    await ch.put(2)
    await ch.put(2)
    let third = false
    const putting = ch.put(1).then(() => (third = true))
    await Promise.resolve()
    expect(third).toBe(false)
    expect(await ch.takeWaiting()).toEqual([2, 2])
    await putting
    expect(ch.clear()).toEqual([1])
    ch.close()
    expect(await ch.takeWaiting()).toBeNull()
  })

  it('bounds bytes too, admits an oversize item into an empty channel alone, and hands a waiting writer the next item at once', async () => {
    const bytes = new BatchChannel<number>(100, 25, (frames) => ({ frames, bytes: frames * 10 }))
    await bytes.put(2)
    let blocked = true
    const second = bytes.put(1).then(() => (blocked = false))
    await Promise.resolve()
    expect(blocked).toBe(true) // 20 + 10 bytes > 25
    expect(await bytes.takeWaiting()).toEqual([2])
    await second
    expect(await bytes.takeWaiting()).toEqual([1])
    await bytes.put(9) // 90 bytes: over the bound, but the channel is empty
    expect(await bytes.takeWaiting()).toEqual([9])
    const waiting = bytes.takeWaiting()
    await bytes.put(3)
    expect(await waiting).toEqual([3])
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

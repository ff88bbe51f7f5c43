import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { FirehoseConsumer } from '../../consumer/consumer.js'
import { startRedis } from '../../harness/redis/index.js'
import { waitUntil } from '../../harness/wait.js'
import { addEntries, pendingCount, sampleEntries, streamKey, redisForFile } from './helpers.js'

const CHILD = fileURLToPath(new URL('./crash-child.mjs', import.meta.url))

const shared = redisForFile()

describe('a consumer process SIGKILLed mid-batch', () => {
  it('leaves its batch pending; another consumer reclaims it with XAUTOCLAIM after minIdleMs and nothing is lost', async () => {
    const stream = streamKey('crash')
    const handledKey = `${stream}:handled`
    await addEntries(shared.client, stream, sampleEntries(1000, 100))
    // The child runs dist/ through the package's self-reference (`npm test` builds first).
    const child = spawn(process.execPath, [CHILD, shared.redis.url, stream, handledKey], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
    try {
      await waitUntil(async () => (await shared.client.llen(handledKey)) >= 5, { what: 'the child to handle 5 events', timeoutMs: 20_000 })
    } finally {
      child.kill('SIGKILL')
    }
    expect(await exited).toBe('SIGKILL')
    const byChild = (await shared.client.lrange(handledKey, 0, -1)).map((line) => Number(line.split(' ')[1]))
    // Mid-batch: it acks a batch of 20 only when all 20 are handled.
    expect(byChild.length).toBeLessThan(20)
    expect(await pendingCount(shared.client, stream)).toBe(20)

    const handled = new Map<number, number>()
    const survivor = new FirehoseConsumer({ redis: shared.redis.url, stream, consumer: 'survivor', count: 20, blockMs: 50, minIdleMs: 500, claimIntervalMs: 100 })
    await survivor.start((event) => void handled.set(event.seq, event.deliveries))
    try {
      await waitUntil(async () => handled.size === 100 && (await pendingCount(shared.client, stream)) === 0, { what: 'all 100 handled and acked', timeoutMs: 20_000 })
    } finally {
      await survivor.stop()
    }

    // The child's batch (seqs 1000..1019) came back as second deliveries, the child's handled ones included.
    for (let seq = 1000; seq < 1020; seq++) expect(handled.get(seq)).toBe(2)
    for (let seq = 1020; seq < 1100; seq++) expect(handled.get(seq)).toBe(1)
    expect(byChild.every((seq) => seq >= 1000 && seq < 1020)).toBe(true)
    expect(survivor.stats).toMatchObject({ claimed: 20, read: 80, handled: 100, acked: 100, deadLettered: 0 })
    const consumers = (await shared.client.xinfo('CONSUMERS', stream, 'firehose-processors')) as unknown[][]
    expect(consumers.map((c) => [c[1], c[3]])).toEqual(
      expect.arrayContaining([
        ['doomed', 0],
        ['survivor', 0],
      ]),
    )
  })
})

describe('Redis itself crashing under a consumer', () => {
  it('retries while Redis is down and resumes on the restarted (empty) server, recreating the group', async () => {
    const own = await startRedis({ kind: 'process' })
    const writer = new Redis(own.url, { maxRetriesPerRequest: null })
    writer.on('error', () => undefined) // down on purpose
    const stream = streamKey('redis-crash')
    const seen: number[] = []
    const worker = new FirehoseConsumer({ redis: own.url, stream, consumer: 'w', blockMs: 50, minIdleMs: 200, claimIntervalMs: 100 })
    try {
      await worker.start((event) => void seen.push(event.seq))
      await addEntries(writer, stream, sampleEntries(1, 3))
      await waitUntil(() => seen.length === 3, { what: '3 events before the crash', timeoutMs: 10_000 })
      await own.kill()
      await waitUntil(() => worker.stats.redisErrors > 0, { what: 'a failed read while Redis is down', timeoutMs: 10_000 })
      await own.restart() // persistence 'none': stream and group are gone
      await addEntries(writer, stream, sampleEntries(4, 3))
      await waitUntil(() => seen.length === 6, { what: '3 events after the restart', timeoutMs: 20_000 })
    } finally {
      await worker.stop()
      writer.disconnect()
      await own.stop()
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('stop() returns promptly while Redis is down', async () => {
    const own = await startRedis({ kind: 'process' })
    const worker = new FirehoseConsumer({ redis: own.url, stream: streamKey('down-stop'), consumer: 'w', blockMs: 1000 })
    try {
      await worker.start(() => undefined)
      await own.kill()
      // Redis is never restarted: a stop() that waited for it would hang until the test times out.
      await expect(worker.stop()).resolves.toBeUndefined()
    } finally {
      await own.stop()
    }
  })

  it('connect() fails while Redis is down and succeeds once it is back', async () => {
    const own = await startRedis({ kind: 'process' })
    const worker = new FirehoseConsumer({ redis: own.url, stream: streamKey('late'), consumer: 'w', blockMs: 50 })
    try {
      await own.kill()
      await expect(worker.connect()).rejects.toThrow(/ECONNREFUSED|Connection is closed/)
      await own.restart()
      await worker.connect()
      expect(await worker.consume()).toEqual([])
    } finally {
      await worker.stop()
      await own.stop()
    }
  })
})

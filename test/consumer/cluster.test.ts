import calculateSlot from 'cluster-key-slot'
import { Cluster } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { shardStream, keyLayout } from '../../common/key-layout.js'
import { FirehoseConsumer } from '../../consumer/consumer.js'
import type { StreamEvent } from '../../consumer/events.js'
import type { ConsumerOptions } from '../../consumer/options.js'
import { startRedisCluster, type RedisClusterHandle } from '../../harness/redis/cluster.js'
import { waitUntil } from '../../harness/wait.js'
import { shardOfDid } from '../../protocol/shard.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import { addEntries, deadLetters, pendingCount, sampleEntries } from './helpers.js'

const SHARDS = 3
const LAYOUT = keyLayout(SHARDS, true)

let redisCluster: RedisClusterHandle
let client: Cluster
const consumers: FirehoseConsumer[] = []

beforeAll(async () => {
  redisCluster = await startRedisCluster({ masters: 3 })
  client = new Cluster(redisCluster.seedUrls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })))
  client.on('error', () => undefined) // the outage test makes every node unreachable on purpose
  await client.set('consumer-cluster:probe', '1') // waits for the slot map
}, 60_000)

afterAll(async () => {
  client?.disconnect()
  await redisCluster?.stop()
})

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop()))
})

function consumer(options: Omit<ConsumerOptions, 'redis'> & { redis?: ConsumerOptions['redis'] }): FirehoseConsumer {
  const made = new FirehoseConsumer({ redis: redisCluster.seedUrls, cluster: true, blockMs: 50, claimIntervalMs: 100, ...options })
  consumers.push(made)
  return made
}

/** The master serving `key`, as the cluster's own slot map says. */
const masterOf = (key: string): string => client.slots[calculateSlot(key)]![0]!

/**
 * A base stream name whose SHARDS shard streams sit on SHARDS different masters: names are
 * tried in a fixed order, so the choice is the same on every run (the slot split is even).
 */
function spreadBase(prefix: string): string {
  for (let n = 0; n < 1000; n++) {
    const base = `${prefix}:${n}`
    if (new Set(Array.from({ length: SHARDS }, (_, i) => masterOf(shardStream(LAYOUT, base, i)))).size === SHARDS) return base
  }
  throw new Error(`no name ${prefix}:<n> spreads ${SHARDS} shards over ${SHARDS} masters`)
}

const didOf = (entry: StreamEntry): string => {
  const data = JSON.parse(entry.data) as { repo?: string; did?: string }
  return (data.repo ?? data.did)!
}

describe('FirehoseConsumer on a 3-master Redis Cluster', () => {
  it('reads and acks 3 shard streams on 3 masters, one worker per shard, each shard in stream order', async () => {
    const base = spreadBase('consume')
    const streams = Array.from({ length: SHARDS }, (_, i) => shardStream(LAYOUT, base, i))
    expect(new Set(streams.map(masterOf)).size).toBe(SHARDS)
    // Routed as the ingestor routes them: by repo DID.
    const entries = sampleEntries(1, 60)
    const ids: string[][] = []
    const written: StreamEntry[][] = []
    for (let i = 0; i < SHARDS; i++) {
      written[i] = entries.filter((entry) => shardOfDid(didOf(entry), SHARDS) === i)
      ids[i] = await addEntries(client, streams[i]!, written[i]!)
    }
    expect(written.every((shard) => shard.length > 0)).toBe(true)

    const seen: StreamEvent[][] = streams.map(() => [])
    // Shard 0 is given the caller's Cluster client (duplicated), the others the seed URLs.
    const workers = streams.map((_, i) => consumer({ ...(i === 0 ? { redis: client } : {}), stream: base, shard: { index: i, count: SHARDS }, consumer: `worker-${i}` }))
    await Promise.all(workers.map((worker, i) => worker.start((event) => void seen[i]!.push(event))))
    await waitUntil(() => seen.flat().length === entries.length, { what: `${entries.length} events handled`, timeoutMs: 15_000 })
    await Promise.all(workers.map((worker) => worker.stop()))

    for (let i = 0; i < SHARDS; i++) {
      expect(workers[i]!.options.stream).toBe(`${base}:${i}`)
      expect(seen[i]!.map((event) => [event.messageId, event.seq])).toEqual(written[i]!.map((entry, j) => [ids[i]![j], entry.seq]))
      expect(seen[i]!.every((event) => shardOfDid(event.type === 'commit' ? event.data.repo : event.data.did, SHARDS) === i)).toBe(true)
      expect(await pendingCount(client, streams[i]!)).toBe(0)
      expect(workers[i]!.stats).toMatchObject({ read: written[i]!.length, acked: written[i]!.length, handled: written[i]!.length, redisErrors: 0 })
    }
    // The caller's client was duplicated, not closed.
    expect(await client.get('consumer-cluster:probe')).toBe('1')
  })

  it('dead-letters a crashing handler into the colocated dead-letter stream of its shard', async () => {
    const base = 'dead'
    const stream = shardStream(LAYOUT, base, 1)
    const ids = await addEntries(client, stream, sampleEntries(500, 3))
    const worker = consumer({ stream: base, shard: { index: 1, count: SHARDS }, maxDeliveries: 1 })
    expect(worker.options.deadLetterStream).toBe('dead:dead-consumer:{dead:1}')
    expect(calculateSlot(worker.options.deadLetterStream)).toBe(calculateSlot(stream))
    await worker.start(() => {
      throw new Error('handler crashed')
    })
    await waitUntil(() => worker.stats.deadLettered === 3, { what: '3 entries dead-lettered', timeoutMs: 10_000 })

    const dead = await deadLetters(client, worker.options.deadLetterStream)
    expect(dead.map((d) => [d.map['dead-id'], d.map['dead-reason'], d.map['dead-error']])).toEqual(ids.map((id) => [id, 'handler-failed', 'handler crashed']))
    expect(await pendingCount(client, stream)).toBe(0)
  })

  it('refuses a deadLetterStream in another hash slot at construction, and uses one in the stream slot', async () => {
    const stream = 'refuse:2'
    const elsewhere = 'refuse:dead-letters'
    expect(calculateSlot(elsewhere)).not.toBe(calculateSlot(stream))
    for (const redis of [{ redis: redisCluster.seedUrls, cluster: true }, { redis: client }]) {
      expect(() => new FirehoseConsumer({ ...redis, stream: 'refuse', shard: { index: 2, count: SHARDS }, deadLetterStream: elsewhere })).toThrow(
        expect.objectContaining({
          code: 'CONSUMER_DEAD_LETTER_SLOT',
          fields: { stream, deadLetterStream: elsewhere, streamSlot: calculateSlot(stream), deadLetterSlot: calculateSlot(elsewhere), suggested: `${elsewhere}:{${stream}}` },
        }),
      )
    }

    // The name the error suggests works: a malformed entry lands there.
    const worker = consumer({ stream: 'refuse', shard: { index: 2, count: SHARDS }, deadLetterStream: `${elsewhere}:{${stream}}` })
    const id = await client.xadd(stream, '*', 'type', 'commit', 'data', '[]', 'seq', '1')
    await worker.start(() => undefined)
    await waitUntil(() => worker.stats.malformed === 1, { what: 'the malformed entry dead-lettered', timeoutMs: 10_000 })
    expect((await deadLetters(client, `${elsewhere}:{${stream}}`)).map((d) => [d.map['dead-id'], d.map['dead-reason']])).toEqual([[id, 'malformed']])
  })

  it('reclaims (XAUTOCLAIM) the pending entries of a consumer that went away mid-batch', async () => {
    const base = 'reclaim'
    const stream = shardStream(LAYOUT, base, 2)
    const ids = await addEntries(client, stream, sampleEntries(900, 5))
    const shard = { index: 2, count: SHARDS }
    // Read, never acked, connection gone: what a SIGKILLed worker leaves (crash.test.ts kills a real process on one server).
    const gone = consumer({ stream: base, shard, consumer: 'gone' })
    expect((await gone.consume()).map((event) => event.messageId)).toEqual(ids)
    await gone.stop()
    expect(await pendingCount(client, stream)).toBe(5)

    const handled: StreamEvent[] = []
    const successor = consumer({ stream: base, shard, consumer: 'successor', minIdleMs: 200 })
    await successor.start((event) => void handled.push(event))
    // acked counts when the XACK reply reaches the successor, which may be after the pending count (another connection) shows 0.
    await waitUntil(async () => handled.length === 5 && successor.stats.acked === 5 && (await pendingCount(client, stream)) === 0, { what: '5 reclaimed, handled and acked', timeoutMs: 10_000 })

    expect(handled.map((event) => [event.messageId, event.deliveries])).toEqual(ids.map((id) => [id, 2]))
    expect(successor.stats).toMatchObject({ read: 0, claimed: 5, handled: 5 })
  })

  // Last: it takes the whole cluster down (restarted on the same ports at the end).
  it('fails commands instead of queueing them while no node answers: stop() returns, and a survivor resumes once the cluster is back', async () => {
    const stream = 'outage'
    await addEntries(client, stream, sampleEntries(1, 1))
    const handled: number[] = []
    const [survivor, stopper] = ['survivor', 'stopper'].map((name) => consumer({ stream, consumer: name }))
    for (const worker of [survivor!, stopper!]) await worker.start((event) => void handled.push(event.seq))
    await waitUntil(() => handled.length === 1, { what: 'the first event handled', timeoutMs: 10_000 })

    await Promise.all(redisCluster.nodes.map((node) => node.kill()))
    try {
      await waitUntil(() => survivor!.stats.redisErrors > 0 && stopper!.stats.redisErrors > 0, { what: 'both consumers counting failed commands', timeoutMs: 10_000 })
      // The nodes restart only after this returns: a stop() that waited for the cluster would hang until the test times out.
      await expect(stopper!.stop()).resolves.toBeUndefined()
    } finally {
      for (const node of redisCluster.nodes) await node.restart()
      await redisCluster.waitHealthy()
    }
    await addEntries(client, stream, sampleEntries(2, 1))
    await waitUntil(() => handled.length === 2, { what: 'the entry written after the outage handled', timeoutMs: 20_000 })
    expect(handled).toEqual([1, 2])
  })
})

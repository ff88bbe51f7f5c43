import { existsSync } from 'node:fs'
import { Redis, type Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { colocatedKey, keyLayout, shardStream } from '../../common/key-layout.js'
import { startRedis, startRedisCluster, type RedisClusterHandle } from '../../harness/redis/index.js'
import { openClusterClient } from '../../common/redis-open.js'
import { checkShards } from '../../stream-check/shard-checker.js'
import { shardOfDid } from '../../protocol/shard.js'
import { entryFields, type StreamEntry } from '../../protocol/stream-entry.js'

const SHARDS = 3
let cluster: RedisClusterHandle
let client: Cluster

beforeAll(async () => {
  const started = Date.now()
  // A short node timeout: a killed master is marked failed (and its return noticed) within seconds.
  cluster = await startRedisCluster({ masters: 3, persistence: 'aof-always', nodeTimeoutMs: 1000 })
  process.stderr.write(`redis-cluster test: 3-master cluster healthy in ${Date.now() - started} ms\n`)
  client = await openClusterClient(cluster.seedUrls)
})
afterAll(async () => {
  client?.disconnect()
  await cluster?.stop()
})

/** Keys k:0..k:n-1 with value v:<i>, written through the cluster client. */
async function writeKeys(n: number): Promise<string[]> {
  const keys = Array.from({ length: n }, (_, i) => `k:${i}`)
  for (const [i, key] of keys.entries()) await client.set(key, `v:${i}`)
  return keys
}

describe('startRedisCluster', () => {
  it('forms a cluster of 3 masters covering all 16384 slots', async () => {
    expect(cluster.nodes).toHaveLength(3)
    expect(cluster.seedUrls).toEqual(cluster.nodes.map((node) => node.url))
    for (const node of cluster.nodes) {
      const info = await node.cli('CLUSTER', 'INFO')
      expect(info).toMatch(/^cluster_state:ok/m)
      expect(info).toMatch(/^cluster_slots_assigned:16384/m)
      expect(info).toMatch(/^cluster_known_nodes:3/m)
      expect(info).toMatch(/^cluster_size:3/m) // every node is a master serving slots
    }
  })

  it('routes keys to every master; a script may touch a key and keys tagged with it, not two untagged keys', async () => {
    await writeKeys(30)
    for (const node of cluster.nodes) expect(Number(await node.cli('DBSIZE'))).toBeGreaterThan(0)

    const layout = keyLayout(SHARDS, true)
    const stream = shardStream(layout, 'script:events', 1)
    const cursorKey = colocatedKey(layout, 'script:cursor', stream)
    const script = "redis.call('XADD', KEYS[1], '*', 'seq', ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return 1"
    expect(await client.eval(script, 2, stream, cursorKey, '7')).toBe(1)
    expect(await client.get(cursorKey)).toBe('7')

    const [slotA, slotB] = await Promise.all(['script:a', 'script:b'].map((key) => cluster.nodes[0]!.cli('CLUSTER', 'KEYSLOT', key)))
    expect(slotA).not.toBe(slotB)
    await expect(client.eval(script, 2, 'script:a', 'script:b', '7')).rejects.toThrow(/CROSSSLOT/)
  })
})

describe('checkShards', () => {
  /** 24 entries of 6 repos in seq order, all four types, with the shard each belongs in. */
  const sample: Array<{ entry: StreamEntry; shard: number }> = Array.from({ length: 24 }, (_, i) => {
    const seq = 100 + i
    const did = `did:plc:repo${i % 6}`
    const type = (['commit', 'identity', 'account', 'sync'] as const)[i % 4]!
    const data = type === 'commit' ? { repo: did, ops: [], seq } : { did, seq }
    return { entry: { type, seq, data: JSON.stringify(data) }, shard: shardOfDid(did, SHARDS) }
  })
  const expected = sample.map((s) => s.entry)
  const inShard = (shard: number): StreamEntry[] => sample.filter((s) => s.shard === shard).map((s) => s.entry)

  /** XADDs each [entry, shard] to that shard's stream, in the order given. */
  async function writeShards(writer: Pick<Redis, 'xadd'>, stream: string, cluster: boolean, placed: Array<[StreamEntry, number]>): Promise<void> {
    const layout = keyLayout(SHARDS, cluster)
    for (const [entry, shard] of placed) await writer.xadd(shardStream(layout, stream, shard), '*', ...entryFields(entry))
  }
  const correctly = (): Array<[StreamEntry, number]> => sample.map((s) => [s.entry, s.shard])

  it('the sample spreads over every shard (precondition of the checks below)', () => {
    for (let shard = 0; shard < SHARDS; shard++) expect(inShard(shard).length).toBeGreaterThanOrEqual(3)
  })

  it("accepts shard streams on a cluster holding exactly their repos' entries", async () => {
    await writeShards(client, 'good', true, correctly())
    const result = await checkShards({ redis: cluster.seedUrls, cluster: true, stream: 'good', shards: SHARDS, expected })
    expect(result.shards.map((s) => s.stream)).toEqual(['good:0', 'good:1', 'good:2'])
    expect(result.shards.map((s) => s.result.delivered)).toEqual([0, 1, 2].map((shard) => inShard(shard).length))
    expect(result.ok, JSON.stringify(result)).toBe(true)
  })

  it('names a duplicate, a lost entry, an entry in the wrong shard and a per-shard reordering', async () => {
    const duplicate = inShard(0)[1]!
    const dropped = inShard(1)[0]!
    const [swapA, swapB] = [inShard(1)[1]!, inShard(1)[2]!]
    const misplaced = inShard(2)[1]!
    const placed: Array<[StreamEntry, number]> = []
    for (const [entry, shard] of correctly()) {
      if (entry === dropped) continue
      if (entry === misplaced) placed.push([entry, 0])
      else if (entry === swapA) placed.push([swapB, shard], [swapA, shard])
      else if (entry !== swapB) placed.push([entry, shard])
      if (entry === duplicate) placed.push([entry, shard])
    }
    await writeShards(client, 'bad', true, placed)

    const result = await checkShards({ redis: cluster.seedUrls, cluster: true, stream: 'bad', shards: SHARDS, expected })
    const [s0, s1, s2] = result.shards.map((s) => s.result)
    expect(s0).toMatchObject({ duplicated: [duplicate.seq], unexpected: [misplaced.seq], lost: [], outOfOrder: [], mismatched: [], ok: false })
    expect(s1).toMatchObject({ lost: [dropped.seq], outOfOrder: [swapA.seq], duplicated: [], unexpected: [], mismatched: [], ok: false })
    expect(s2).toMatchObject({ lost: [misplaced.seq], duplicated: [], unexpected: [], outOfOrder: [], ok: false })
    expect(result.ok).toBe(false)
  })

  it('reads the shard streams of one plain Redis', async () => {
    const redis = await startRedis({ kind: 'process' })
    const plain = new Redis(redis.url)
    try {
      await writeShards(plain, 'plain', false, correctly())
      const result = await checkShards({ redis: [redis.url], cluster: false, stream: 'plain', shards: SHARDS, expected })
      expect(result.ok, JSON.stringify(result)).toBe(true)
      expect(result.shards.map((s) => s.stream)).toEqual(['plain:0', 'plain:1', 'plain:2'])
    } finally {
      plain.disconnect()
      await redis.stop()
    }
  })
})

describe('a master killed and restarted', () => {
  it('fails commands to its slots while down, and serves its data again after restart', async () => {
    const keys = await writeKeys(30)
    const victim = cluster.nodes[1]!
    const victimKeys = (await victim.cli('KEYS', 'k:*')).split('\n').filter((key) => key !== '')
    expect(victimKeys.length).toBeGreaterThan(0)

    await victim.kill()
    await expect(client.get(victimKeys[0]!)).rejects.toThrow()
    client.disconnect()

    await victim.restart()
    await cluster.waitHealthy(10_000)
    client = await openClusterClient(cluster.seedUrls)
    // aof-always: every acknowledged write is back.
    expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(keys.map((_, i) => `v:${i}`))
  })
})

describe('stop()', () => {
  it('stops every node and deletes their data dirs; a second stop() is a no-op', async () => {
    const dirs = cluster.nodes.map((node) => node.dataDir!)
    for (const dir of dirs) expect(existsSync(dir)).toBe(true)
    client.disconnect()
    await cluster.stop()
    for (const dir of dirs) expect(existsSync(dir)).toBe(false)
    await expect(cluster.nodes[0]!.cli('PING')).rejects.toThrow()
    await cluster.stop()
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HarnessError, HarnessErrorCode } from '../../harness/errors.js'
import { startRedisCluster, type RedisClusterHandle } from '../../harness/redis/index.js'

let cluster: RedisClusterHandle

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, persistence: 'none', nodeTimeoutMs: 1000 })
})
afterAll(async () => {
  await cluster?.stop()
})

describe('startRedisCluster({ replicasPerMaster: 1 })', () => {
  it('starts 6 nodes: 3 masters, each of the others a synced replica of a different master', async () => {
    expect(cluster.nodes).toHaveLength(6)
    const masters = await cluster.masters()
    expect(masters).toHaveLength(3)
    const replicas = cluster.nodes.filter((node) => !masters.includes(node))
    const theirMasters = await Promise.all(replicas.map((node) => cluster.replicaOf(node)))
    expect(new Set(theirMasters)).toEqual(new Set(masters))
    for (const master of masters) expect(await cluster.replicaOf(master)).toBeNull()
    // Started means synced: a replica that never synced with its master is never promoted.
    for (const replica of replicas) expect(await replica.cli('INFO', 'replication')).toMatch(/^master_link_status:up\r?$/m)
  })

  it('a master killed for good: not healthy until its replica is promoted, then healthy without it', async () => {
    const [victim] = await cluster.masters()
    const promoted = (await Promise.all(cluster.nodes.map(async (node) => ((await cluster.replicaOf(node)) === victim ? node : null)))).find((node) => node !== null)!
    await victim!.kill()
    // The live nodes still list the dead master as owning its slots: not healthy yet.
    await expect(cluster.waitHealthy(200)).rejects.toSatisfy((err) => err instanceof HarnessError && err.code === HarnessErrorCode.Timeout && /unreachable|failed|cluster_state:fail/.test(err.message))
    await cluster.waitHealthy(15_000)
    const masters = await cluster.masters()
    expect(masters).toHaveLength(3)
    expect(masters).not.toContain(victim)
    expect(masters).toContain(promoted)
    expect(await cluster.replicaOf(promoted)).toBeNull()
  })
})

import { afterEach, describe, expect, it } from 'vitest'
import { dropAofTail, startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { openRedisClient } from '../../harness/redis/redis-cli.js'

let redis: RedisHandle | null = null
afterEach(async () => {
  await redis?.stop()
  redis = null
})

describe('dropAofTail', () => {
  it('makes a killed aof-everysec server come back without its last writes, still loadable', async () => {
    redis = await startRedis({ kind: 'process', persistence: 'aof-everysec' })
    for (let i = 0; i < 200; i++) await redis.cli('XADD', 's', '*', 'i', String(i), 'pad', 'x'.repeat(100))
    await redis.kill()
    const cut = await dropAofTail(redis.dataDir!, 5000)
    expect(cut).toBeGreaterThanOrEqual(5000)
    await redis.restart()
    const left = Number(await redis.cli('XLEN', 's'))
    // Each XADD takes well over 100 bytes of AOF: some of the 200 are gone, most remain.
    expect(left).toBeLessThan(200 - 5000 / 400)
    expect(left).toBeGreaterThan(200 - 5000 / 100)
    const last = await redis.cli('XREVRANGE', 's', '+', '-', 'COUNT', '1')
    expect(last.split('\n')[2]).toBe(String(left - 1)) // a clean prefix
  })

  it('never leaves a torn transaction behind: a second restart adds nothing back', async () => {
    redis = await startRedis({ kind: 'process', persistence: 'aof-everysec' })
    // Fresh keys per round: a cut may reach back into an earlier round's commands.
    for (const cut of [10, 50, 100, 150]) {
      const [stream, counter] = [`t${cut}`, `c${cut}`]
      const client = await openRedisClient(redis.url)
      for (let i = 1; i <= 10; i++) await client.multi().xadd(stream, '*', 'a', 'x'.repeat(20)).xadd(stream, '*', 'b', 'y').set(counter, String(i)).exec()
      client.disconnect()
      await redis.kill()
      expect(await dropAofTail(redis.dataDir!, cut)).toBeGreaterThanOrEqual(cut)
      await redis.restart()
      const afterFirst = Number(await redis.cli('XLEN', stream))
      expect(afterFirst).toBe(2 * Number(await redis.cli('GET', counter))) // whole transactions only
      await redis.cli('XADD', stream, '*', 'z', '1')
      await redis.kill()
      await redis.restart()
      expect(Number(await redis.cli('XLEN', stream))).toBe(afterFirst + 1)
    }
  })

  it('fails with a clear error when the server has no AOF', async () => {
    redis = await startRedis({ kind: 'process', persistence: 'none' })
    await expect(dropAofTail(redis.dataDir!, 10)).rejects.toThrow(/no AOF manifest/)
  })
})

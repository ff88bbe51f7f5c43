import { readdir, readFile, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { dropAofTail, startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { startProcessRedis } from '../../harness/redis/process-redis.js'
import { openRedisClient } from '../../common/redis-open.js'

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

describe('restart() after a SIGKILL that tore a transaction in the AOF', () => {
  const ENTRIES_PER_WRITE = 4
  const PAD = 'x'.repeat(1000)
  /** Like the ingestor's write: entries and a counter in one script, appended to the AOF as one MULTI/EXEC. */
  const WRITE = `for i = 1, ${ENTRIES_PER_WRITE} do redis.call('XADD', KEYS[1], '*', 'w', ARGV[1], 'pad', ARGV[2]) end
redis.call('SET', KEYS[2], ARGV[1])`
  const write = (server: RedisHandle, n: number): Promise<string> => server.cli('EVAL', WRITE, '2', 's', 'n', String(n), PAD)

  /**
   * 10 writes, SIGKILL, the last write's AOF record cut inside its last XADD (what a SIGKILL
   * does to a write(2) at a page boundary), restart, one more write, SIGKILL, restart.
   * Returns the stream length and the counter after the second restart.
   */
  async function tearAndRestartTwice(server: RedisHandle): Promise<{ length: number; counter: number }> {
    for (let n = 1; n <= 10; n++) await write(server, n)
    await server.kill()
    const appendDir = join(server.dataDir!, 'appendonlydir')
    const incremental = (await readdir(appendDir)).filter((name) => name.endsWith('.incr.aof'))
    expect(incremental).toHaveLength(1)
    const path = join(appendDir, incremental[0]!)
    const aof = await readFile(path)
    await truncate(path, aof.lastIndexOf(PAD) + PAD.length / 2)
    await server.restart()
    expect(await server.cli('GET', 'n')).toBe('9') // the torn write is not applied on load
    await write(server, 11)
    await server.kill()
    await server.restart()
    return { length: Number(await server.cli('XLEN', 's')), counter: Number(await server.cli('GET', 'n')) }
  }

  it("Redis 7.0 by itself brings the torn write's first entries back a restart later (the bug the harness repairs)", async () => {
    // AOF on behind the harness' back (persistence 'none'), so restart() does not repair.
    redis = await startProcessRedis({ persistence: 'none', extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    expect(await tearAndRestartTwice(redis)).toEqual({ length: 11 * ENTRIES_PER_WRITE - 1, counter: 11 })
  })

  // aof-always: every acknowledged write is in the file before the kill (everysec may postpone one).
  it('the harness repairs the torn tail before launching again: a second restart adds nothing back', async () => {
    redis = await startRedis({ kind: 'process', persistence: 'aof-always' })
    expect(await tearAndRestartTwice(redis)).toEqual({ length: 10 * ENTRIES_PER_WRITE, counter: 11 })
  })
})

import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { afterEach, describe, expect, it, type TestContext } from 'vitest'
import { HarnessErrorCode } from '../../harness/errors.js'
import { RedisCannotKillError, startRedis, type RedisHandle, type RedisKind } from '../../harness/redis/index.js'
import { redisCommand } from '../../harness/redis/redis-cli.js'
import { skipAllTests, skipTest } from '../support/skip.js'

/**
 * The one contract every Redis provider meets. Each implementation's test file calls this;
 * `skipReason` (non-null) skips every test with that reason, e.g. no container runtime.
 */
export function redisProviderContract(kind: RedisKind, skipReason: string | null): void {
  describe(`Redis provider contract: ${kind}`, () => {
    skipAllTests(skipReason)
    const handles: RedisHandle[] = []
    const keys: { handle: RedisHandle; key: string }[] = []
    const start = async (options: Parameters<typeof startRedis>[0] = {}): Promise<RedisHandle> => {
      const handle = await startRedis({ ...options, kind })
      handles.push(handle)
      return handle
    }
    /** Unique per test so the shared external server is never disturbed. */
    const key = (handle: RedisHandle): string => {
      const name = `harness-contract:${kind}:${randomBytes(6).toString('hex')}`
      keys.push({ handle, key: name })
      return name
    }

    /** Kill, restart, passwords and stop are for servers the harness started, not an external one. */
    const ownedOnly = (context: TestContext): void => {
      if (kind === 'external') skipTest(context, 'external Redis: the harness does not own it (no kill, restart, password or stop)')
    }

    afterEach(async () => {
      for (const { handle, key: name } of keys.splice(0)) await handle.cli('DEL', name).catch(() => {})
      for (const handle of handles.splice(0)) await handle.stop()
    })

    it('reports its kind and a redis:// URL, and runs commands', async () => {
      const redis = await start()
      expect(redis.kind).toBe(kind)
      expect(redis.url).toMatch(/^redis:\/\//)
      const name = key(redis)
      expect(await redis.cli('SET', name, 'hello')).toBe('OK')
      expect(await redis.cli('GET', name)).toBe('hello')
      const list = key(redis)
      expect(await redis.cli('RPUSH', list, 'a', 'b')).toBe('2')
      expect(await redis.cli('LRANGE', list, '0', '-1')).toBe('a\nb')
      expect(await redis.cli('GET', key(redis))).toBe('')
    })

    it('rejects error replies', async () => {
      const redis = await start()
      await expect(redis.cli('NOSUCHCOMMAND')).rejects.toThrow(/unknown command/i)
    })

    it('keeps writes across kill + restart with aof-always (same port)', async (context) => {
      ownedOnly(context)
      const redis = await start({ persistence: 'aof-always' })
      const before = redis.url
      const name = key(redis)
      for (let i = 0; i < 50; i++) await redis.cli('XADD', name, '*', 'i', String(i))
      await redis.kill()
      await expect(redis.cli('PING')).rejects.toThrow()
      const after = await redis.restart()
      expect(after).toBe(before)
      expect(await redis.cli('XLEN', name)).toBe('50')
    })

    it('fails a restart whose port was taken while the server was down (its clients hold the URL), then restarts there once it is free', async (context) => {
      ownedOnly(context)
      const redis = await start({ persistence: 'none' })
      const before = redis.url
      await redis.kill()
      const blocker = createServer((socket) => socket.destroy())
      await new Promise<void>((resolve) => blocker.listen(Number(new URL(before).port), new URL(before).hostname, resolve))
      try {
        await expect(redis.restart()).rejects.toMatchObject({ code: HarnessErrorCode.RedisStartFailed, message: expect.stringContaining(new URL(before).port) })
      } finally {
        await new Promise((resolve) => blocker.close(resolve))
      }
      expect(await redis.restart()).toBe(before)
      expect(await redis.cli('PING')).toBe('PONG')
    })

    it('loses unsynced writes on kill with persistence none, and can move to a new port', async (context) => {
      ownedOnly(context)
      const redis = await start({ persistence: 'none' })
      const before = redis.url
      const name = key(redis)
      await redis.cli('SET', name, 'x')
      await redis.kill()
      const after = await redis.restart({ newPort: true })
      expect(after).not.toBe(before)
      expect(redis.url).toBe(after)
      expect(await redis.cli('EXISTS', name)).toBe('0')
    })

    it('requires the password when one is set', async (context) => {
      ownedOnly(context)
      const password = randomBytes(8).toString('hex')
      const redis = await start({ password })
      expect(new URL(redis.url).password).toBe(password)
      expect(await redis.cli('PING')).toBe('PONG')
      const withoutPassword = new URL(redis.url)
      withoutPassword.password = ''
      await expect(redisCommand(withoutPassword.toString(), ['PING'])).rejects.toThrow(/NOAUTH|auth/i)
    })

    it('refuses kill and restart with a named error (scenario must be skipped)', async (context) => {
      if (kind !== 'external') skipTest(context, 'only an external Redis refuses kill and restart')
      const redis = await start()
      expect(redis.canKill).toBe(false)
      await expect(redis.kill()).rejects.toBeInstanceOf(RedisCannotKillError)
      await expect(redis.restart()).rejects.toMatchObject({ code: 'HARNESS_REDIS_CANNOT_KILL' })
      expect(await redis.cli('PING')).toBe('PONG') // still up
    })

    it('stop() shuts the server down, removes its data and is idempotent', async (context) => {
      ownedOnly(context)
      const redis = await start({ persistence: 'aof-always' })
      expect(redis.canKill).toBe(true)
      await redis.cli('SET', 'k', 'v')
      const dir = await redis.cli('CONFIG', 'GET', 'dir').then((reply) => reply.split('\n')[1] ?? '')
      if (kind === 'process') expect(existsSync(dir)).toBe(true)
      await redis.stop()
      await redis.stop()
      await expect(redis.cli('PING')).rejects.toThrow()
      if (kind === 'process') expect(existsSync(dir)).toBe(false)
      await expect(redis.restart()).rejects.toMatchObject({ code: 'HARNESS_REDIS_START_FAILED' })
    })
  })
}

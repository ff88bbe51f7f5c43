import { afterEach, describe, expect, it, vi } from 'vitest'
import { CONTAINER_LABEL, containerRuntime } from '../../harness/redis/container-runtime.js'
import { chooseRedisKind, containerRuntimeUnavailableReason, redisImageUnavailableReason, startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { skipAllTests } from '../support/skip.js'
import { redisProviderContract } from './redis-provider.contract.js'

// Runs for real where a Docker daemon answers and appview-firehose/redis:local was built
// (docker/build-local-images.sh; .ci/run does both); elsewhere reported as skipped with the reason.
const imageMissing = await redisImageUnavailableReason()
const runtimeMissing = await containerRuntimeUnavailableReason()
const noContainer = imageMissing === null ? null : `no Redis container: ${imageMissing}`
redisProviderContract('container', noContainer)

const MISSING_IMAGE = 'appview-firehose/no-such-image:never'

describe('provider choice without a usable Redis image', () => {
  const handles: RedisHandle[] = []
  afterEach(async () => {
    vi.unstubAllEnvs()
    for (const handle of handles.splice(0)) await handle.stop()
  })

  it('picks the redis-server process and says why: no runtime, or the image is not present (never pulled)', async () => {
    vi.stubEnv('HARNESS_REDIS', '')
    const choice = await chooseRedisKind(MISSING_IMAGE)
    expect(choice.kind).toBe('process')
    if (runtimeMissing === null) expect(choice.reason).toContain(`image ${MISSING_IMAGE} is not present locally`)
    else expect(choice.reason).toContain('no container runtime')
  })

  it('startRedis() falls back to a working process and prints the reason once', async () => {
    vi.stubEnv('HARNESS_REDIS', '')
    vi.stubEnv('HARNESS_REDIS_IMAGE', MISSING_IMAGE)
    const written: string[] = []
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => written.push(String(chunk)) > 0)
    try {
      handles.push(await startRedis())
      handles.push(await startRedis())
    } finally {
      stderr.mockRestore()
    }
    expect(handles.map((h) => h.kind)).toEqual(['process', 'process'])
    expect(await handles[0]!.cli('PING')).toBe('PONG')
    const lines = written.filter((line) => line.startsWith('harness: Redis provider'))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^harness: Redis provider process: no Redis container \(.+\); using a redis-server child process\n$/)
  })

  it('HARNESS_REDIS=container with the image missing fails up front with the reason, not at pull time', async () => {
    vi.stubEnv('HARNESS_REDIS', 'container')
    vi.stubEnv('HARNESS_REDIS_IMAGE', MISSING_IMAGE)
    await expect(startRedis()).rejects.toMatchObject({
      code: 'HARNESS_CONTAINER_RUNTIME_UNAVAILABLE',
      message: runtimeMissing === null ? expect.stringContaining('docker/build-local-images.sh') : expect.stringContaining('no container runtime'),
    })
  })
})

describe('Redis containers are removed in teardown (Ryuk is disabled)', () => {
  skipAllTests(noContainer)
  /** Ids of the harness' Redis containers on data dir `dir`, running or not (a stopped one lists no ports). */
  async function containersOn(dir: string): Promise<string[]> {
    const runtime = await containerRuntime()
    if (typeof runtime === 'string') throw new Error(runtime)
    const all = await runtime.container.dockerode.listContainers({ all: true, filters: { label: [CONTAINER_LABEL] } })
    return all.filter((c) => c.Mounts.some((m) => m.Source === dir)).map((c) => c.Id)
  }

  it('kill + restart leaves one container, stop() leaves none', async () => {
    expect(process.env.TESTCONTAINERS_RYUK_DISABLED).toBe('true')
    const redis = await startRedis({ kind: 'container', persistence: 'aof-always' })
    const dir = redis.dataDir!
    try {
      const [first] = await containersOn(dir)
      expect(first).toBeDefined()
      await redis.kill()
      await redis.restart()
      const after = await containersOn(dir)
      expect(after).toHaveLength(1)
      expect(after[0]).not.toBe(first)
    } finally {
      await redis.stop()
    }
    expect(await containersOn(dir)).toEqual([])
  })
})

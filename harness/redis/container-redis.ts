import { chmod, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StartedRedisContainer } from '@testcontainers/redis'
import { HarnessError, HarnessErrorCode } from '../errors.js'
import { containerRuntimeUnavailableReason } from './container-runtime.js'
import { ownedServerHandle } from './owned-server.js'
import { redisServerArgs, redisUrl } from './server-args.js'
import type { RedisHandle, RedisPersistence } from './types.js'

const IMAGE = process.env.HARNESS_REDIS_IMAGE ?? 'redis:7.2-alpine'
const CONTAINER_PORT = 6379
const DATA_DIR = '/data'

/**
 * Redis in a container (Testcontainers), data bind-mounted from a host temp dir so that a
 * SIGKILLed container can be replaced by a new one on the same data, like a restarted server.
 */
export async function startContainerRedis(options: { persistence: RedisPersistence; password?: string | undefined }): Promise<RedisHandle> {
  const unavailable = await containerRuntimeUnavailableReason()
  if (unavailable !== null) throw new HarnessError(HarnessErrorCode.ContainerRuntimeUnavailable, unavailable, { kind: 'container' })
  // Dev dependencies, loaded only when a runtime is there (see container-runtime.ts).
  const { RedisContainer } = await import('@testcontainers/redis')
  const { getContainerRuntimeClient } = await import('testcontainers')

  const dir = await mkdtemp(join(tmpdir(), 'firehose-redis-container-'))
  await chmod(dir, 0o777) // the image runs redis as its own uid
  let container: StartedRedisContainer | null = null
  let host = '127.0.0.1'
  let port = 0

  async function launch(newPort: boolean): Promise<void> {
    const hostPort = newPort || port === 0 ? null : port
    const args = redisServerArgs({ ...options, password: undefined, dir: DATA_DIR, port: CONTAINER_PORT, bindHost: '0.0.0.0' })
    let definition = new RedisContainer(IMAGE)
      .withCommand(['redis-server', ...args, '--protected-mode', 'no'])
      .withBindMounts([{ source: dir, target: DATA_DIR, mode: 'rw' }])
    // RedisContainer appends --requirepass itself and puts the password in its URL.
    if (options.password !== undefined) definition = definition.withPassword(options.password)
    if (hostPort !== null) definition = definition.withExposedPorts({ container: CONTAINER_PORT, host: hostPort })
    try {
      container = await definition.start()
    } catch (err) {
      throw new HarnessError(HarnessErrorCode.RedisStartFailed, `Redis container ${IMAGE} did not start: ${String(err)}`, { kind: 'container', reason: String(err) }, { cause: err })
    }
    host = container.getHost()
    port = container.getPort()
  }

  async function killContainer(): Promise<void> {
    const current = container
    container = null
    if (current === null) return
    const client = await getContainerRuntimeClient()
    // SIGKILL, not `docker stop`: Redis must not get a chance to fsync or rewrite on shutdown.
    await client.container.getById(current.getId()).kill({ signal: 'SIGKILL' })
    await current.stop({ remove: true, timeout: 0 })
  }

  const url = (): string => redisUrl(host, port, options.password)

  async function shutdown(): Promise<void> {
    const current = container
    container = null
    await current?.stop({ remove: true, timeout: 0 })
  }

  return ownedServerHandle({ kind: 'container', dir, url, launch, kill: killContainer, shutdown })
}

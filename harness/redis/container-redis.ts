import { chmod, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StartedTestContainer } from 'testcontainers'
import { HarnessError, HarnessErrorCode } from '../errors.js'
import { redisImage, redisImageUnavailableReason } from './container-availability.js'
import { CONTAINER_LABEL } from './container-runtime.js'
import { ownedServerHandle } from './owned-server.js'
import { launchOnPort } from './launch-on-port.js'
import { redisServerArgs, redisUrl } from './server-args.js'
import type { RedisHandle, RedisPersistence } from './types.js'

const HOST = '127.0.0.1'
const DATA_DIR = '/data'
const STARTUP_TIMEOUT_MS = 60_000
/** Lines of server output kept for error messages (bounded; older lines dropped). */
const LOG_TAIL_LINES = 20

/**
 * Redis in a container (Testcontainers), data bind-mounted from a host temp dir so that a
 * SIGKILLed container can be replaced by a new one on the same data, like a restarted server.
 * Host networking, on a free port like the process provider: no docker-proxy between the
 * harness and Redis (through it, throughput-smoke's lag p50 was 2.3-2.8 s; without, 6-51 ms
 * on the same loaded machine), and a restart keeps its port. Needs a Linux Docker host.
 */
export async function startContainerRedis(options: { persistence: RedisPersistence; password?: string | undefined }): Promise<RedisHandle> {
  const image = redisImage()
  const unavailable = await redisImageUnavailableReason(image)
  if (unavailable !== null) throw new HarnessError(HarnessErrorCode.ContainerRuntimeUnavailable, unavailable, { kind: 'container', image })
  // Optional peer dependency, loaded only when a runtime is there (see container-runtime.ts).
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers')

  const dir = await mkdtemp(join(tmpdir(), 'firehose-redis-container-'))
  await chmod(dir, 0o777) // the image runs redis as its own uid
  let container: StartedTestContainer | null = null
  let port = 0

  async function start(listenPort: number): Promise<StartedTestContainer> {
    const logTail: string[] = []
    const definition = new GenericContainer(image)
      .withNetworkMode('host')
      .withCommand(['redis-server', ...redisServerArgs({ ...options, dir: DATA_DIR, port: listenPort, bindHost: HOST })])
      .withBindMounts([{ source: dir, target: DATA_DIR, mode: 'rw' }])
      .withLabels({ [CONTAINER_LABEL]: 'redis' })
      .withLogConsumer((stream) =>
        stream.on('data', (line: string | Buffer) => {
          logTail.push(String(line).trim())
          if (logTail.length > LOG_TAIL_LINES) logTail.shift()
        }),
      )
      .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
      .withStartupTimeout(STARTUP_TIMEOUT_MS)
    try {
      return await definition.start()
    } catch (err) {
      const reason = logTail.join(' | ') || String(err)
      throw new HarnessError(HarnessErrorCode.RedisStartFailed, `Redis container ${image} on port ${listenPort} did not start: ${reason}`, { kind: 'container', port: listenPort, reason }, { cause: err })
    }
  }

  async function launch(newPort: boolean): Promise<void> {
    port = await launchOnPort(HOST, port, newPort, async (candidate) => {
      container = await start(candidate)
    })
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

  const url = (): string => redisUrl(HOST, port, options.password)

  async function shutdown(): Promise<void> {
    const current = container
    container = null
    await current?.stop({ remove: true, timeout: 0 })
  }

  return ownedServerHandle({ kind: 'container', persistence: options.persistence, dir, url, launch, kill: killContainer, shutdown })
}

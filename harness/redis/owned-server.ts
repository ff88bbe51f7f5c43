import { rm } from 'node:fs/promises'
import { HarnessError, HarnessErrorCode } from '../errors.js'
import { repairTornTransaction } from './aof-tail.js'
import { redisCommand } from './redis-cli.js'
import type { RedisHandle, RedisPersistence } from './types.js'

/** One way of running a Redis server the harness owns (a child process, a container). */
export interface OwnedServer {
  kind: 'process' | 'container'
  persistence: RedisPersistence
  /** Host data dir: kept by kill() for restart(), deleted by stop(). */
  dir: string
  url(): string
  /** Starts the server on `dir`; on the port it had unless `newPort` (or it never had one). */
  launch(newPort: boolean): Promise<void>
  /** SIGKILL: no shutdown save. */
  kill(): Promise<void>
  /** Ends the server for good (the data dir is deleted afterwards). */
  shutdown(): Promise<void>
}

/**
 * The RedisHandle shared by every server the harness owns: the first launch (deleting the data
 * dir if it fails), idempotent stop, and restart on the same data dir. A restart of an AOF
 * server first repairs a transaction its kill tore, as a fixed Redis would on load (see
 * repairTornTransaction): Redis 7.0 itself would bring the torn commands back a restart later.
 */
export async function ownedServerHandle(server: OwnedServer): Promise<RedisHandle> {
  let stopped = false
  try {
    await server.launch(true)
  } catch (err) {
    await rm(server.dir, { recursive: true, force: true })
    throw err
  }
  return {
    kind: server.kind,
    canKill: true,
    dataDir: server.dir,
    get url() {
      return server.url()
    },
    async stop() {
      if (stopped) return
      stopped = true
      await server.shutdown()
      await rm(server.dir, { recursive: true, force: true })
    },
    kill: () => server.kill(),
    async restart(options = {}) {
      if (stopped) throw new HarnessError(HarnessErrorCode.RedisStartFailed, 'restart() after stop(): the data dir is gone', { kind: server.kind })
      await server.kill()
      if (server.persistence !== 'none') await repairTornTransaction(server.dir)
      await server.launch(options.newPort === true)
      return server.url()
    },
    cli: (...args: string[]) => redisCommand(server.url(), args),
  }
}

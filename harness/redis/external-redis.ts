import { DEFAULT_REDIS_URL } from '../../common/contract.js'
import { RedisCannotKillError } from '../errors.js'
import { redisCommand } from './redis-cli.js'
import type { RedisHandle } from './types.js'

export const DEFAULT_EXTERNAL_REDIS_URL = DEFAULT_REDIS_URL

/**
 * A Redis the harness does not own (REDIS_URL, e.g. the compose service). Never killed,
 * restarted, reconfigured or flushed: callers use unique key names and delete them.
 */
export async function startExternalRedis(url = process.env.REDIS_URL ?? DEFAULT_EXTERNAL_REDIS_URL): Promise<RedisHandle> {
  await redisCommand(url, ['PING']) // fail now, with the connection error, rather than mid-scenario
  return {
    kind: 'external',
    url,
    canKill: false,
    dataDir: null,
    async stop() {},
    async kill() {
      throw new RedisCannotKillError('external', 'kill')
    },
    async restart() {
      throw new RedisCannotKillError('external', 'restart')
    },
    cli: (...args: string[]) => redisCommand(url, args),
  }
}

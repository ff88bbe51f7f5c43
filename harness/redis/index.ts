import { HarnessError, HarnessErrorCode } from '../errors.js'
import { startContainerRedis } from './container-redis.js'
import { containerRuntimeUnavailableReason } from './container-runtime.js'
import { startExternalRedis } from './external-redis.js'
import { startProcessRedis } from './process-redis.js'
import type { RedisHandle, RedisKind, RedisStartOptions } from './types.js'

export type { RedisHandle, RedisKind, RedisPersistence, RedisStartOptions } from './types.js'
export { containerRuntimeUnavailableReason } from './container-runtime.js'
export { dropAofTail } from './aof-tail.js'
export { RedisCannotKillError } from '../errors.js'

const KINDS: readonly RedisKind[] = ['container', 'process', 'external']

/**
 * Starts a Redis for a test or scenario. Kind: options.kind, else HARNESS_REDIS, else a
 * container when a runtime is present, else a redis-server child process.
 */
export async function startRedis(options: RedisStartOptions = {}): Promise<RedisHandle> {
  const kind = options.kind ?? (await defaultRedisKind())
  const config = { persistence: options.persistence ?? 'none', password: options.password }
  switch (kind) {
    case 'container':
      return startContainerRedis(config)
    case 'process':
      return startProcessRedis(config)
    case 'external':
      return startExternalRedis()
  }
}

/** The kind startRedis() picks without options.kind. */
export async function defaultRedisKind(): Promise<RedisKind> {
  const forced = process.env.HARNESS_REDIS
  if (forced !== undefined && forced !== '') {
    if (!(KINDS as readonly string[]).includes(forced)) {
      throw new HarnessError(HarnessErrorCode.InvalidConfig, `HARNESS_REDIS must be one of ${KINDS.join(', ')}, got "${forced}"`, { forced })
    }
    return forced as RedisKind
  }
  return (await containerRuntimeUnavailableReason()) === null ? 'container' : 'process'
}

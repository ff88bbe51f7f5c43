import { HarnessError, HarnessErrorCode } from '../errors.js'
import { startContainerRedis } from './container-redis.js'
import { redisImage, redisImageUnavailableReason } from './container-availability.js'
import { startExternalRedis } from './external-redis.js'
import { startProcessRedis } from './process-redis.js'
import type { RedisHandle, RedisKind, RedisStartOptions } from './types.js'

export type { RedisHandle, RedisKind, RedisPersistence, RedisStartOptions } from './types.js'
export { containerRuntimeUnavailableReason, DEFAULT_REDIS_IMAGE, redisImage, redisImageUnavailableReason } from './container-availability.js'
export { dropAofTail } from './aof-tail.js'
export { startRedisCluster, type RedisClusterHandle, type RedisClusterOptions } from './cluster.js'
export { RedisCannotKillError } from '../errors.js'

const KINDS: readonly RedisKind[] = ['container', 'process', 'external']

export interface RedisKindChoice {
  kind: RedisKind
  /** Why this kind, e.g. why not a container: printed once per process by startRedis(). */
  reason: string
}

let announced = false

/**
 * Starts a Redis for a test or scenario. Kind: options.kind, else HARNESS_REDIS, else a
 * container when a runtime answers and the Redis image is present locally, else a
 * redis-server child process (the choice and its reason go to stderr once per process).
 */
export async function startRedis(options: RedisStartOptions = {}): Promise<RedisHandle> {
  let kind = options.kind
  if (kind === undefined) {
    const choice = await chooseRedisKind()
    kind = choice.kind
    if (!announced) process.stderr.write(`harness: Redis provider ${choice.kind}: ${choice.reason}\n`)
    announced = true
  }
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

/** The kind startRedis() picks without options.kind, and why (`image`: the container image to look for). */
export async function chooseRedisKind(image: string = redisImage()): Promise<RedisKindChoice> {
  const forced = process.env.HARNESS_REDIS
  if (forced !== undefined && forced !== '') {
    if (!(KINDS as readonly string[]).includes(forced)) {
      throw new HarnessError(HarnessErrorCode.InvalidConfig, `HARNESS_REDIS must be one of ${KINDS.join(', ')}, got "${forced}"`, { forced })
    }
    return { kind: forced as RedisKind, reason: `HARNESS_REDIS=${forced}` }
  }
  const unavailable = await redisImageUnavailableReason(image)
  if (unavailable === null) return { kind: 'container', reason: `a container runtime answers and image ${image} is present` }
  return { kind: 'process', reason: `no Redis container (${unavailable}); using a redis-server child process` }
}

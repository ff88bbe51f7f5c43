import { redisCommand } from '../../harness/redis/redis-cli.js'
import { DEFAULT_EXTERNAL_REDIS_URL } from '../../harness/redis/external-redis.js'
import { redisProviderContract } from './redis-provider.contract.js'

// Runs against REDIS_URL (default the shared 127.0.0.1:6379) with unique keys; skipped when none answers.
const url = process.env.REDIS_URL ?? DEFAULT_EXTERNAL_REDIS_URL
const reachable = await redisCommand(url, ['PING']).then(
  () => null,
  (err: unknown) => `no external Redis at ${url}: ${String(err)}`,
)
redisProviderContract('external', reachable)

import { containerRuntimeUnavailableReason } from '../../harness/redis/index.js'
import { redisProviderContract } from './redis-provider.contract.js'

// Where no Docker/Podman answers (these CI machines) the suite is reported as skipped with the reason.
redisProviderContract('container', await containerRuntimeUnavailableReason())

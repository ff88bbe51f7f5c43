import { redisProviderContract } from './redis-provider.contract.js'

redisProviderContract('process', null)

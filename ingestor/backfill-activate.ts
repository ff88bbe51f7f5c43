import { BACKFILL_COUNTERS, BACKFILL_QUEUED } from '../repo-sync/backfill-fields.js'
import { luaScript } from './lua-script.js'

/**
 * Repos a backfill listed as inactive whose account is active again: each DID still in the shard's
 * inactive hash leaves it and gets a `queued` marker, and `reactivated` grows by as many, in one
 * script (so each is counted once whatever runs twice).
 * KEYS: 1 the shard's snapshot progress hash, 2 its inactive hash. ARGV: DIDs. Returns the DIDs queued.
 */
export const ACTIVATE_INACTIVE = luaScript(`
local queued = {}
for i = 1, #ARGV do
  if redis.call('HDEL', KEYS[2], ARGV[i]) == 1 then
    redis.call('HSETNX', KEYS[1], ARGV[i] .. '#backfill', '${BACKFILL_QUEUED}')
    table.insert(queued, ARGV[i])
  end
end
if #queued > 0 then redis.call('HINCRBY', KEYS[1], '${BACKFILL_COUNTERS.reactivated}', #queued) end
return queued
`)

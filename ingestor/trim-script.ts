import { luaScript } from './lua-script.js'

/**
 * Safe trimming of the stream (`--trim safe`, the default with `--max-len`): never removes an
 * entry some consumer group has not read and acknowledged. Redis 7.0 has no `ACKED` trim, so
 * the floor is computed here, in Lua, in the same atomic script call as the trim: no consumer
 * can read or ack in between, so a floor computed this way is never stale.
 *
 * Floor of a group = its oldest pending (delivered, unacknowledged) entry, else its
 * last-delivered-id (that one entry is acknowledged but kept, which spares incrementing an ID
 * in Lua). The stream floor is the lowest group floor; with no group at all nobody can lose
 * anything and the stream is trimmed like MAXLEN.
 *
 * Cost: XLEN, then only when the stream is over maxLen: XINFO GROUPS, one XPENDING summary per
 * group with pending entries, `XTRIM MINID ~ floor LIMIT excess` (whole radix-tree nodes, never
 * past the floor nor below maxLen), and an exact trim of the rest, which lies within one node
 * (at most `stream-node-max-entries` entries read by XRANGE).
 *
 * `safe_trim(stream, maxLen)` returns the length left and the name of the group holding the
 * floor (false when none). A length above maxLen means the stream is full of entries some group
 * still needs: the ingestor then stops writing (see trim-wait.ts).
 */
export const SAFE_TRIM_LUA = `
local function id_less(a, b)
  local ams, aseq = string.match(a, '^(%d+)%-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)%-(%d+)$')
  if ams ~= bms then return tonumber(ams) < tonumber(bms) end
  return tonumber(aseq) < tonumber(bseq)
end

local function trim_floor(stream)
  local floor, owner = nil, false
  for _, raw in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local group = {}
    for k = 1, #raw, 2 do group[raw[k]] = raw[k + 1] end
    local need = group['last-delivered-id']
    if tonumber(group['pending']) > 0 then need = redis.call('XPENDING', stream, group['name'])[2] end
    if floor == nil or id_less(need, floor) then floor, owner = need, group['name'] end
  end
  return floor, owner
end

local function safe_trim(stream, maxLen)
  local len = redis.call('XLEN', stream)
  if len <= maxLen then return len, false end
  local floor, owner = trim_floor(stream)
  if floor == nil then
    redis.call('XTRIM', stream, 'MAXLEN', '=', maxLen)
    return maxLen, false
  end
  redis.call('XTRIM', stream, 'MINID', '~', floor, 'LIMIT', len - maxLen)
  len = redis.call('XLEN', stream)
  local excess = len - maxLen
  if excess > 0 and floor ~= '0-0' then
    local below = #redis.call('XRANGE', stream, '-', '(' .. floor, 'COUNT', excess)
    if below == excess then
      redis.call('XTRIM', stream, 'MAXLEN', '=', maxLen)
    elseif below > 0 then
      redis.call('XTRIM', stream, 'MINID', '=', floor)
    end
    len = len - below
  end
  return len, owner
end
`

/**
 * The trim alone, for the ingestor waiting on a full stream (trim-wait.ts).
 * KEYS: 1 stream. ARGV: 1 maxLen. Returns {length left, group holding the floor or nil}.
 */
export const TRIM_STREAM = luaScript(`${SAFE_TRIM_LUA}
local len, owner = safe_trim(KEYS[1], tonumber(ARGV[1]))
return {len, owner}
`)

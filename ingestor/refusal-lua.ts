/**
 * Lua checks a script runs before its first write. Redis does not roll back a script that
 * fails halfway: every command before the failure stays applied. So a script that writes must
 * first find everything that could make a later command fail (a key of the wrong type, a
 * command or key the ACL user may not use) and refuse with nothing written.
 *
 * `wrong_type(key, want)`: the key's type when it exists and is not `want`, else nil.
 * `denied(commands)`: the first command (a table: name, args...) this ACL user may not run, as
 * one string, else nil. `redis.acl_check_cmd` (Redis 7.0+) checks the command and its keys.
 *
 * Refusal replies share one shape, read by refusal.ts:
 *   {REFUSED_WRONG_TYPE, key, actual type, wanted type}
 *   {REFUSED_DENIED, 'COMMAND key ...'}
 */
export const REFUSED_WRONG_TYPE = 4
export const REFUSED_DENIED = 5

export const REFUSAL_LUA = `
local function wrong_type(key, want)
  local actual = redis.call('TYPE', key)['ok']
  if actual ~= 'none' and actual ~= want then return actual end
  return nil
end

local function denied(commands)
  for _, command in ipairs(commands) do
    if not redis.acl_check_cmd(unpack(command)) then return table.concat(command, ' ') end
  end
  return nil
end
`

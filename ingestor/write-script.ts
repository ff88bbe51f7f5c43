import { luaScript } from './lua-script.js'
import { REFUSAL_LUA } from './refusal-lua.js'
import { SAFE_TRIM_LUA } from './trim-script.js'

/**
 * The one atomic write of the ingestor: a batch of stream entries, its dead letters and the
 * new cursor, applied only if the stored cursor is still the one this ingestor believes is
 * there (compare-and-set). Redis runs a script atomically and, since 7.0, replicates and
 * appends its effects to the AOF as one MULTI/EXEC, so after any crash either the whole batch
 * and its cursor exist or none of it does.
 *
 * All or nothing: Redis does not roll back a script that errors halfway, so everything that
 * could make a later command fail is checked before the first write (refusal-lua.ts): the
 * arguments, the ACL for every command the script may run on these keys, and the keys' types.
 * An OOM refusal can only hit the first write command (Redis lets a script that has written
 * finish), so it writes nothing either. docs/invariants.md I21.
 *
 * KEYS: 1 stream, 2 cursor key, 3 dead-letter stream, 4 per-repo state hash (`<stream>:repos`),
 *       5 snapshot progress hash (`<stream>:snapshots`), 6 (optional) the legacy consumer's
 *       cursor key, set to the new cursor with ours (--legacy-cursor-key: rollback, docs/migration.md)
 * ARGV: 1 expected cursor ('' = no key), 2 new cursor, 3 stream max length (0 = none),
 *       4 trim mode ('safe' | 'unsafe'), 5 '1' when the cursor may go lower (a new relay seq
 *       space or a forced --cursor; otherwise a lower cursor is refused), 6 dead-letter MAXLEN,
 *       7 entry count n, 8 hash update count m, then n x the 6 contract fields (entryFields:
 *       type <t> data <json> seq <n>, in that order), then m hash updates of 4 values (the key:
 *       '4' or '5'; the field, a DID; the value we believe is there, '' = none; the new value,
 *       '' = delete the field), then dead letters as 6 values each (dead-letter.ts
 *       deadLetterFields: seq, code, message, bytes, length, sha256) until the end.
 *       Each hash update is compare-and-set like the cursor (docs/invariants.md I23).
 * Returns, first element:
 *   1 applied: {1, last entry id or ''}
 *   0 CAS mismatch, nothing written: {0, stored cursor or ''}
 *   2 stream full, nothing written (safe trim: over max length with entries some group still
 *     needs): {2, length, group holding the floor}
 *   3 the new cursor is below the stored one and that was not allowed, nothing written: {3, stored}
 *   4, 5 refused (wrong key type, ACL), nothing written: refusal-lua.ts
 *   6 malformed arguments (our bug), nothing written: {6, reason}
 *   7 a hash field holds another value than we believe, nothing written: {7, field, 1 if it holds
 *     this write's new value (the write was applied before: scripts are atomic), else 0}
 * Trimming: 'unsafe' is `XADD MAXLEN ~` per entry (deletes unread entries); 'safe' trims after
 * the entries with safe_trim (trim-script.ts). A batch is refused only when the stream is
 * already over its max length before it, so a stream with room takes one whole write: it holds
 * at most max length + one write's entries.
 * Entry IDs are '*' (see docs/invariants.md, I8).
 */
export const WRITE_BATCH = luaScript(`${REFUSAL_LUA}${SAFE_TRIM_LUA}
local maxLen = tonumber(ARGV[3])
local n = tonumber(ARGV[7])
local m = tonumber(ARGV[8])
local deadMax = tonumber(ARGV[6])
if maxLen == nil or n == nil or m == nil or deadMax == nil or #ARGV < 8 + 6 * n + 4 * m or (#ARGV - 8 - 6 * n - 4 * m) % 6 ~= 0 then
  return {6, 'expected 8 + 6 x entries + 4 x hash updates + 6 x dead letters numeric-headed arguments, got ' .. #ARGV}
end
local safe = maxLen > 0 and ARGV[4] == 'safe'
local updates = 9 + 6 * n
local hashes = {}
for u = updates, updates + 4 * (m - 1), 4 do
  if ARGV[u] ~= '4' and ARGV[u] ~= '5' then return {6, 'a hash update names key ' .. ARGV[u]} end
  hashes[tonumber(ARGV[u])] = true
end

local commands = {
  {'TYPE', KEYS[1]}, {'TYPE', KEYS[2]}, {'TYPE', KEYS[3]},
  {'GET', KEYS[2]}, {'SET', KEYS[2], '0'},
  {'XADD', KEYS[1], 'MAXLEN', '~', '1', '*', 'type', 't'},
  {'XADD', KEYS[3], 'MAXLEN', '~', '1', '*', 'seq', 's'},
}
local types = {{KEYS[1], 'stream'}, {KEYS[2], 'string'}, {KEYS[3], 'stream'}}
for k in pairs(hashes) do
  for _, command in ipairs({{'TYPE', KEYS[k]}, {'HGET', KEYS[k], 'f'}, {'HSET', KEYS[k], 'f', 'v'}, {'HDEL', KEYS[k], 'f'}}) do
    table.insert(commands, command)
  end
  table.insert(types, {KEYS[k], 'hash'})
end
if KEYS[6] then
  table.insert(commands, {'TYPE', KEYS[6]})
  table.insert(commands, {'SET', KEYS[6], '0'})
  table.insert(types, {KEYS[6], 'string'})
end
if safe then
  for _, command in ipairs({{'XLEN', KEYS[1]}, {'XINFO', 'GROUPS', KEYS[1]}, {'XPENDING', KEYS[1], 'g'}, {'XTRIM', KEYS[1], 'MAXLEN', '=', '1'}, {'XRANGE', KEYS[1], '-', '+', 'COUNT', '1'}}) do
    table.insert(commands, command)
  end
end
local refused = denied(commands)
if refused then return {5, refused} end
for _, check in ipairs(types) do
  local actual = wrong_type(check[1], check[2])
  if actual then return {4, check[1], actual, check[2]} end
end

local stored = redis.call('GET', KEYS[2])
if not stored then stored = '' end
if stored ~= ARGV[1] then return {0, stored} end
if ARGV[5] ~= '1' and stored ~= '' and ARGV[2] ~= '' and tonumber(ARGV[2]) < tonumber(stored) then return {3, stored} end
for u = updates, updates + 4 * (m - 1), 4 do
  local held = redis.call('HGET', KEYS[tonumber(ARGV[u])], ARGV[u + 1])
  if not held then held = '' end
  if held ~= ARGV[u + 2] then
    if held == ARGV[u + 3] then return {7, ARGV[u + 1], 1} end
    return {7, ARGV[u + 1], 0}
  end
end
if safe and n > 0 then
  local len, owner = safe_trim(KEYS[1], maxLen)
  if len > maxLen then return {2, len, owner} end
end
local i = 9
local last = ''
for _ = 1, n do
  if maxLen > 0 and not safe then
    last = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxLen, '*', ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5])
  else
    last = redis.call('XADD', KEYS[1], '*', ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5])
  end
  i = i + 6
end
for u = updates, updates + 4 * (m - 1), 4 do
  local key = KEYS[tonumber(ARGV[u])]
  if ARGV[u + 3] == '' then redis.call('HDEL', key, ARGV[u + 1]) else redis.call('HSET', key, ARGV[u + 1], ARGV[u + 3]) end
end
i = updates + 4 * m
while i <= #ARGV do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', deadMax, '*', 'seq', ARGV[i], 'code', ARGV[i + 1], 'message', ARGV[i + 2], 'bytes', ARGV[i + 3], 'length', ARGV[i + 4], 'sha256', ARGV[i + 5])
  i = i + 6
end
if safe and n > 0 then safe_trim(KEYS[1], maxLen) end
if ARGV[2] ~= ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  if KEYS[6] then redis.call('SET', KEYS[6], ARGV[2]) end
end
return {1, last}
`)

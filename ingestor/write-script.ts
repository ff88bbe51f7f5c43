import { createHash } from 'node:crypto'

/**
 * The one atomic write of the ingestor: a batch of stream entries, its dead letters and the
 * new cursor, applied only if the stored cursor is still the one this ingestor believes is
 * there (compare-and-set). Redis runs a script atomically and, since 7.0, replicates and
 * appends its effects to the AOF as one MULTI/EXEC, so after any crash either the whole batch
 * and its cursor exist or none of it does.
 *
 * KEYS: 1 stream, 2 cursor key, 3 dead-letter stream
 * ARGV: 1 expected cursor ('' = no key), 2 new cursor, 3 stream MAXLEN (0 = none),
 *       4 dead-letter MAXLEN, 5 entry count n, then n x the 6 contract fields (entryFields:
 *       type <t> data <json> seq <n>, in that order), then dead letters
 *       as (seq, code, message, bytes) until the end.
 * Returns {1, last entry id or ''} when applied, {0, stored cursor or ''} on a CAS mismatch.
 * Entry IDs are '*' (see docs/invariants.md, I5).
 */
export const WRITE_BATCH_LUA = `
local stored = redis.call('GET', KEYS[2])
if not stored then stored = '' end
if stored ~= ARGV[1] then return {0, stored} end
local maxLen = tonumber(ARGV[3])
local n = tonumber(ARGV[5])
local i = 6
local last = ''
for _ = 1, n do
  if maxLen > 0 then
    last = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxLen, '*', ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5])
  else
    last = redis.call('XADD', KEYS[1], '*', ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5])
  end
  i = i + 6
end
while i <= #ARGV do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'seq', ARGV[i], 'code', ARGV[i + 1], 'message', ARGV[i + 2], 'bytes', ARGV[i + 3])
  i = i + 4
end
if ARGV[2] ~= ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) end
return {1, last}
`

export const WRITE_BATCH_SHA = createHash('sha1').update(WRITE_BATCH_LUA).digest('hex')

import type { RedisClient } from '../common/redis-client.js'
import { luaScript, runLuaScript } from './lua-script.js'
import { REFUSAL_LUA } from './refusal-lua.js'
import { KEY_TYPES, refusalError } from './refusal.js'

/** Keys of one hash slot whose types are checked, and commands this ACL user must be allowed to run. */
export interface PreflightCall {
  keys: { key: string; type: string }[]
  /** Each: the command name, then its arguments (key names included: the ACL checks them too). */
  commands: string[][]
}

/** What the ingestor will touch, with the options that decide which commands it runs. */
export interface PreflightInput {
  /** Index = shard: the shard's stream, dead-letter stream and its cursor key of every relay; its per-repo state hashes with --repo-state. */
  shards: { stream: string; deadLetterStream: string; cursorKeys: string[]; repoStates?: string; snapshotProgress?: string; backfillInactive?: string }[]
  group: string
  /** --max-len with --trim safe: the trim reads groups and pending entries. */
  safeTrim: boolean
  /** --health-port: the probe reads lengths, groups and the first unread entry. */
  probes: boolean
  /** --ha: the lease key. */
  leaseKey: string | null
}

/**
 * Read-only: the first refusal (refusal-lua.ts) among the ACL checks of ARGV's commands and the
 * type checks of KEYS, else {1}. KEYS: keys; ARGV: each key's wanted type, then the number of
 * commands, then each command as its argument count followed by its arguments.
 */
const PREFLIGHT = luaScript(`${REFUSAL_LUA}
local pos = #KEYS + 1
local commands = {}
for _ = 1, tonumber(ARGV[pos]) do
  local argc = tonumber(ARGV[pos + 1])
  local command = {}
  for k = 1, argc do command[k] = ARGV[pos + 1 + k] end
  table.insert(commands, command)
  pos = pos + 1 + argc
end
local refused = denied(commands)
if refused then return {5, refused} end
for k, key in ipairs(KEYS) do
  local actual = wrong_type(key, ARGV[k])
  if actual then return {4, key, actual, ARGV[k]} end
end
return {1}
`)

/**
 * Every command the ingestor runs after connecting (its scripts' commands included: the write
 * script runs them under the same ACL) and the type of every key it uses, one call per hash
 * slot. Connection commands (AUTH, SELECT, CLIENT SETNAME, INFO, CLUSTER SLOTS) are not listed:
 * a connection that became ready has run them.
 */
export function preflightCalls(input: PreflightInput): PreflightCall[] {
  const calls: PreflightCall[] = input.shards.map(({ stream, deadLetterStream, cursorKeys, repoStates, snapshotProgress, backfillInactive }) => {
    const commands = [
      ['TYPE', stream],
      ['XGROUP', 'CREATE', stream, input.group, '0', 'MKSTREAM'],
      ['XADD', stream, 'MAXLEN', '~', '1', '*', 'type', 't'],
      ['XADD', deadLetterStream, 'MAXLEN', '~', '1', '*', 'seq', 's'],
      ...cursorKeys.flatMap((key) => [
        ['GET', key],
        ['SET', key, '0'],
      ]),
    ]
    if (input.safeTrim) {
      commands.push(['XLEN', stream], ['XINFO', 'GROUPS', stream], ['XPENDING', stream, input.group], ['XTRIM', stream, 'MAXLEN', '=', '1'], ['XRANGE', stream, '-', '+', 'COUNT', '1'])
    }
    if (input.probes) commands.push(['XLEN', stream], ['XLEN', deadLetterStream], ['XINFO', 'GROUPS', stream], ['XRANGE', stream, '-', '+', 'COUNT', '1'])
    const keys: PreflightCall['keys'] = [{ key: stream, type: KEY_TYPES.stream }, { key: deadLetterStream, type: KEY_TYPES.deadLetterStream }, ...cursorKeys.map((key) => ({ key, type: KEY_TYPES.cursorKey }))]
    if (repoStates !== undefined && snapshotProgress !== undefined) {
      // --repo-state: the write script's compare-and-set, the cache's reads and the start-up sweep.
      for (const hash of [repoStates, snapshotProgress]) commands.push(['HGET', hash, 'f'], ['HSET', hash, 'f', 'v'], ['HDEL', hash, 'f'], ['HMGET', hash, 'f'])
      commands.push(['HSCAN', repoStates, '0'], ['HSCAN', snapshotProgress, '0'])
      if (input.probes) commands.push(['HLEN', repoStates])
      keys.push({ key: repoStates, type: KEY_TYPES.repoStates }, { key: snapshotProgress, type: KEY_TYPES.snapshotProgress })
    }
    if (snapshotProgress !== undefined && backfillInactive !== undefined) {
      // Backfill (backfill-feed.ts): the inactive repos' scan, and the script that queues those active again.
      commands.push(['HSCAN', backfillInactive, '0'], ['HDEL', backfillInactive, 'f'], ['HSETNX', snapshotProgress, 'f', 'v'], ['HINCRBY', snapshotProgress, 'f', '1'])
      keys.push({ key: backfillInactive, type: KEY_TYPES.backfillInactive })
    }
    return { keys, commands }
  })
  const keyless = [['SCRIPT', 'LOAD', 'return 1'], ...(input.probes ? [['PING']] : [])]
  calls.push({ keys: [], commands: keyless })
  if (input.leaseKey !== null) {
    const lease = input.leaseKey
    calls.push({
      keys: [{ key: lease, type: KEY_TYPES.leaseKey }],
      commands: [
        ['SET', lease, 't', 'NX', 'PX', '1'],
        ['GET', lease],
        ['PEXPIRE', lease, '1'],
        ['DEL', lease],
      ],
    })
  }
  return calls
}

/**
 * Checks, before anything is written, that this Redis user may run every command the ingestor
 * will run and that no key it uses holds another type: throws the RedisConfigError (exit 4)
 * naming the command or the key and its type.
 */
export async function preflight(redis: RedisClient, calls: readonly PreflightCall[]): Promise<void> {
  for (const call of calls) {
    const args = [...call.keys.map(({ key }) => key), ...call.keys.map(({ type }) => type), String(call.commands.length), ...call.commands.flatMap((command) => [String(command.length), ...command])]
    const reply = (await runLuaScript(redis, PREFLIGHT, call.keys.length, args)) as unknown[]
    const refused = refusalError(reply)
    if (refused !== null) throw refused
  }
}

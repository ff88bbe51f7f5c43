import { createHash } from 'node:crypto'
import { Cluster } from 'ioredis'
import type { RedisClient } from './redis-connection.js'
import { EncodedCommand, encodeRespCommand } from './resp-command.js'

/** A Lua script run by EVALSHA: the documented least-privilege ACL grants EVALSHA and SCRIPT LOAD, not EVAL. */
export interface LuaScript {
  readonly lua: string
  readonly sha: string
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * EVALSHA; on NOSCRIPT (a restarted or flushed Redis forgot the script) loads it and runs it
 * again: a NOSCRIPT reply means it did not run, so this cannot run it twice. `args`: the keys
 * (numKeys of them), then the script's arguments. Sent as one buffer we encode (resp-command.ts).
 */
export async function runLuaScript(redis: RedisClient, script: LuaScript, numKeys: number, args: readonly (string | number | Buffer)[]): Promise<unknown> {
  // Numbers as ioredis sends them (String).
  const all = [script.sha, String(numKeys), ...args.map((arg) => (typeof arg === 'number' ? String(arg) : arg))]
  const encoded = encodeRespCommand('evalsha', all)
  const command = (): EncodedCommand => new EncodedCommand('evalsha', all.slice(0, 2 + numKeys), encoded)
  try {
    return await redis.sendCommand(command())
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
    await loadLuaScript(redis, script)
    return await redis.sendCommand(command())
  }
}

/** SCRIPT LOAD on every node that may run it: each master of a cluster (a keyless command reaches one node only). */
export async function loadLuaScript(redis: RedisClient, script: LuaScript): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis]
  await Promise.all(nodes.map((node) => node.script('LOAD', script.lua)))
}

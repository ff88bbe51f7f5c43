import { createHash } from 'node:crypto'
import { Cluster } from 'ioredis'
import type { RedisClient } from './redis-connection.js'

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
 * again: a NOSCRIPT reply means it did not run, so this cannot run it twice.
 */
export async function runLuaScript(redis: RedisClient, script: LuaScript, numKeys: number, args: readonly (string | number | Buffer)[]): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, numKeys, ...args)
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
    await loadLuaScript(redis, script)
    return await redis.evalsha(script.sha, numKeys, ...args)
  }
}

/** SCRIPT LOAD on every node that may run it: each master of a cluster (a keyless command reaches one node only). */
export async function loadLuaScript(redis: RedisClient, script: LuaScript): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis]
  await Promise.all(nodes.map((node) => node.script('LOAD', script.lua)))
}

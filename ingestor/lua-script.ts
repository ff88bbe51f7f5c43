import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

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
export async function runLuaScript(redis: Redis, script: LuaScript, numKeys: number, args: readonly (string | number | Buffer)[]): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, numKeys, ...args)
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
    await redis.script('LOAD', script.lua)
    return await redis.evalsha(script.sha, numKeys, ...args)
  }
}

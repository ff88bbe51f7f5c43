import { readFile, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { HarnessError, HarnessErrorCode } from '../errors.js'

const AOF_DIR = 'appendonlydir' // Redis 7 default appenddirname
const MULTI = Buffer.from('*1\r\n$5\r\nMULTI\r\n')
const EXEC = Buffer.from('*1\r\n$4\r\nEXEC\r\n')

/**
 * Cuts the newest incremental AOF file of a stopped server back to before an unfinished
 * MULTI at its tail, and returns the bytes cut (0 when the tail is whole).
 *
 * Why: a SIGKILL can tear the AOF write(2) of a transaction (Linux stops a write at a page
 * boundary once a fatal signal is pending), under `always` and `everysec` alike; Redis 7.0
 * appends a Lua script's effects as one MULTI/EXEC, so the tail is then a MULTI, some whole
 * commands and a partial one. Redis 7.0 loads that correctly but truncates the file only to
 * the last whole command, leaving the MULTI and its commands in place; the next transaction
 * is appended after them and the restart after that commits the orphans with it (duplicates).
 * That is a Redis bug (fixed in valkey by PR #4342): the harness repairs the tail where a fixed
 * server would. Stream payloads are JSON, so the RESP MULTI/EXEC byte patterns cannot occur
 * inside a value.
 */
export async function repairTornTransaction(dataDir: string): Promise<number> {
  const path = await newestIncrementalAof(dataDir)
  if (path === null) return 0
  const file = await readFile(path)
  const lastMulti = file.lastIndexOf(MULTI)
  if (lastMulti === -1 || file.lastIndexOf(EXEC) > lastMulti) return 0
  await truncate(path, lastMulti)
  return file.length - lastMulti
}

/**
 * Simulates what a power loss does to `appendfsync everysec`: the last, not yet fsynced
 * bytes of the AOF vanish. (A SIGKILL alone takes less: a torn transaction, and with everysec
 * the writes Redis replied to but postponed, up to 2 s, behind a slow background fsync.) Cuts
 * about `bytes` off the end of the newest incremental AOF file of a stopped server, then back
 * to before an unfinished MULTI (repairTornTransaction), and returns the bytes cut.
 */
export async function dropAofTail(dataDir: string, bytes: number): Promise<number> {
  const path = await newestIncrementalAof(dataDir)
  if (path === null) return 0
  const size = (await stat(path)).size
  const cut = Math.min(size, Math.max(0, Math.floor(bytes)))
  await truncate(path, size - cut)
  return cut + (await repairTornTransaction(dataDir))
}

/** The newest incremental AOF file named by the manifest; null when there is none yet. */
async function newestIncrementalAof(dataDir: string): Promise<string | null> {
  const manifestPath = join(dataDir, AOF_DIR, 'appendonly.aof.manifest')
  const manifest = await readFile(manifestPath, 'utf8').catch((err: unknown) => {
    throw new HarnessError(HarnessErrorCode.InvalidConfig, `no AOF manifest at ${manifestPath}: is appendonly on?`, { dataDir }, { cause: err })
  })
  const incremental = manifest
    .split('\n')
    .map((line) => /^file (\S+) seq \d+ type i$/.exec(line.trim())?.[1])
    .filter((name): name is string => name !== undefined)
  const newest = incremental[incremental.length - 1]
  return newest === undefined ? null : join(dataDir, AOF_DIR, newest)
}

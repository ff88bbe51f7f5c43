import { readFile, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { HarnessError, HarnessErrorCode } from '../errors.js'

const AOF_DIR = 'appendonlydir' // Redis 7 default appenddirname
const MULTI = Buffer.from('*1\r\n$5\r\nMULTI\r\n')
const EXEC = Buffer.from('*1\r\n$4\r\nEXEC\r\n')

/**
 * Simulates what a power loss does to `appendfsync everysec`: the last, not yet fsynced
 * bytes of the AOF vanish. (A SIGKILL alone loses nothing: Redis write(2)s the AOF before it
 * replies, and the kernel keeps those pages.) Cuts about `bytes` off the end of the newest
 * incremental AOF file of a stopped server, then back to before an unfinished MULTI, and
 * returns the bytes cut.
 *
 * Why the MULTI step: Redis 7.0 loads a tail torn inside MULTI/EXEC correctly but truncates
 * the file only to the last whole command, leaving the dangling MULTI's commands in place;
 * the next restart then commits them together with the next transaction (duplicates). That
 * is a Redis bug (fixed in valkey by PR #4342), not a power-loss effect, so the harness cuts
 * where a fixed server's repair would. Stream payloads are JSON, so the RESP MULTI/EXEC byte
 * patterns cannot occur inside a value.
 */
export async function dropAofTail(dataDir: string, bytes: number): Promise<number> {
  const manifestPath = join(dataDir, AOF_DIR, 'appendonly.aof.manifest')
  const manifest = await readFile(manifestPath, 'utf8').catch((err: unknown) => {
    throw new HarnessError(HarnessErrorCode.InvalidConfig, `no AOF manifest at ${manifestPath}: is appendonly on?`, { dataDir }, { cause: err })
  })
  const incremental = manifest
    .split('\n')
    .map((line) => /^file (\S+) seq \d+ type i$/.exec(line.trim())?.[1])
    .filter((name): name is string => name !== undefined)
  const newest = incremental[incremental.length - 1]
  if (newest === undefined) return 0
  const path = join(dataDir, AOF_DIR, newest)
  const size = (await stat(path)).size
  let keep = size - Math.min(size, Math.max(0, Math.floor(bytes)))
  const kept = (await readFile(path)).subarray(0, keep)
  const lastMulti = kept.lastIndexOf(MULTI)
  if (lastMulti !== -1 && kept.lastIndexOf(EXEC) < lastMulti) keep = lastMulti
  await truncate(path, keep)
  return size - keep
}

import { RedisConfigError, RedisConfigErrorCode } from './errors.js'
import { REFUSED_DENIED, REFUSED_WRONG_TYPE } from './refusal-lua.js'

/** The Redis type each kind of key the ingestor uses must have ('none', a missing key, is always fine). */
export const KEY_TYPES = { stream: 'stream', deadLetterStream: 'stream', cursorKey: 'string', leaseKey: 'string', repoStates: 'hash', snapshotProgress: 'hash', backfillInactive: 'hash' } as const

/**
 * A script's refusal reply (refusal-lua.ts) as the configuration error it is, or null when the
 * reply is not a refusal. Both kinds never heal by retrying: the ingestor stops (exit 4).
 */
export function refusalError(reply: readonly unknown[]): RedisConfigError | null {
  const [status, ...rest] = reply
  if (status === REFUSED_WRONG_TYPE) {
    const [key, type, expected] = rest.map(String)
    return new RedisConfigError(
      RedisConfigErrorCode.WrongType,
      `Redis key ${JSON.stringify(key)} holds a ${type}, not a ${expected}: another program uses this name (choose other keys with --stream / --cursor-key, or delete it); nothing was written`,
      { key, type, expected },
    )
  }
  if (status === REFUSED_DENIED) {
    const command = String(rest[0])
    return new RedisConfigError(RedisConfigErrorCode.NoPerm, `the Redis user may not run ${command} (see docs/ingestor.md for the ACL); nothing was written`, { command })
  }
  return null
}

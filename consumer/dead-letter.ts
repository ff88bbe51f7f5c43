import type { RedisClient } from './redis-client.js'

/** Why an entry left the group for the dead-letter stream (the `dead-reason` field). */
export type DeadLetterReason =
  /** Not the stream contract: never handed to a handler. */
  | 'malformed'
  /** The handler threw on the last allowed delivery (`dead-error` holds its message). */
  | 'handler-failed'
  /** Found at reclaim already delivered maxDeliveries times: its consumers crashed or hung on it. */
  | 'max-deliveries'

export interface DeadLetter {
  stream: string
  group: string
  deadLetterStream: string
  deadLetterMaxLen: number
}

/**
 * XACK and XADD in one script: the entry leaves the pending list and its copy is written
 * together, so a crash cannot lose it or keep it twice. Only the call whose XACK removed the
 * entry writes the copy: two consumers racing on one entry dead-letter it once. On a cluster both
 * keys must share a hash slot (resolveConsumerOptions checks it).
 */
const DEAD_LETTER_LUA = `
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
return 1`

/** Longest `dead-error` kept: the copy must stay small whatever a handler throws. */
const MAX_ERROR_CHARS = 1000

/**
 * Moves one entry to the dead-letter stream: its original fields verbatim (so a well-formed
 * entry keeps the contract order and legacy tools read it as before), then `dead-id`,
 * `dead-reason`, `dead-deliveries`, `dead-consumer`, `dead-error`. Returns false when the entry
 * was no longer pending (another consumer acked or dead-lettered it first).
 */
export async function deadLetter(
  redis: RedisClient,
  target: DeadLetter,
  entry: { messageId: string; fields: readonly string[]; deliveries: number },
  consumer: string,
  reason: DeadLetterReason,
  error: string,
): Promise<boolean> {
  const extra = ['dead-id', entry.messageId, 'dead-reason', reason, 'dead-deliveries', String(entry.deliveries), 'dead-consumer', consumer, 'dead-error', error.slice(0, MAX_ERROR_CHARS)]
  const moved = await redis.eval(DEAD_LETTER_LUA, 2, target.stream, target.deadLetterStream, target.group, entry.messageId, String(target.deadLetterMaxLen), ...entry.fields, ...extra)
  return moved === 1
}

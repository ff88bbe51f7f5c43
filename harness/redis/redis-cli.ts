import { openRedisClient } from '../../common/redis-open.js'

/** Deletes `keys` on a fresh connection (cleanup of the keys a run made on a Redis it did not start). */
export async function deleteKeys(url: string, keys: readonly string[]): Promise<void> {
  const client = await openRedisClient(url)
  try {
    await client.del(...keys)
  } finally {
    client.disconnect()
  }
}

/**
 * Runs one command on a fresh connection and renders the reply like `redis-cli --raw`
 * (arrays one element per line, nil as an empty line). Uses ioredis rather than the
 * redis-cli binary so it works wherever the harness runs, including container-only hosts.
 * Error replies reject.
 */
export async function redisCommand(url: string, args: readonly string[]): Promise<string> {
  const [command, ...rest] = args
  if (command === undefined) throw new TypeError('redisCommand needs a command name')
  const client = await openRedisClient(url)
  try {
    return renderReply((await client.call(command, ...rest)) as Reply)
  } finally {
    client.disconnect()
  }
}

/** A RESP reply as ioredis gives it (error replies reject). */
type Reply = string | number | Buffer | null | Reply[]

function renderReply(reply: Reply): string {
  if (reply === null || reply === undefined) return ''
  if (Array.isArray(reply)) return reply.map(renderReply).join('\n')
  if (Buffer.isBuffer(reply)) return reply.toString('utf8')
  return String(reply)
}

import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { decodeEvent } from '../protocol/events.js'
import { entryFields, isSequenced, toStreamEntry } from '../protocol/stream-entry.js'

/**
 * The peer for bench/ingest.ts: the shape of the consumer the ingestor replaces. Decode on
 * the socket thread, one awaited XADD per event, cursor SET every 5 s apart from the writes.
 * Usage: REDIS_URL=<redis url> node dist/bench/naive-consumer.js <relay url with cursor> <stream> <cursor key>
 * (the Redis URL, which may carry a password, stays off the command line)
 */
const [url, stream, cursorKey] = process.argv.slice(2)
const redisUrl = process.env.REDIS_URL
if (!url || !redisUrl || !stream || !cursorKey) throw new Error('usage: REDIS_URL=<redis-url> naive-consumer <relay-url> <stream> <cursor-key>')

const redis = new Redis(redisUrl)
const pending: Buffer[] = []
let lastSeq = 0
let draining = false
const ws = new WebSocket(url)

ws.on('message', (data: Buffer) => {
  pending.push(data)
  if (pending.length > 1000) ws.pause() // the only bound it has
  if (!draining) void drain()
})

async function drain(): Promise<void> {
  draining = true
  while (pending.length > 0) {
    const bytes = pending.shift()!
    try {
      const event = decodeEvent(bytes)
      if (isSequenced(event)) {
        await redis.xadd(stream!, '*', ...entryFields(toStreamEntry(event)))
        lastSeq = event.seq
      }
    } catch {
      // the old consumer logged and dropped bad frames
    }
    if (pending.length < 500) ws.resume()
  }
  draining = false
}

setInterval(() => void redis.set(cursorKey, String(lastSeq)), 5000)
process.on('SIGTERM', () => process.exit(0))

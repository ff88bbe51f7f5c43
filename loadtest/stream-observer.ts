import type { Redis } from 'ioredis'
import { openRedisClient } from '../common/redis-open.js'

/** Entries fetched per round trip. */
const PAGE = 5000
/** XREAD BLOCK timeout: how soon stop() is noticed while the stream is idle. */
const BLOCK_MS = 250

/**
 * Only the id and seq of the entries after ARGV[1]: the observer must not pull every event's
 * JSON through this process (the replay server shares its CPU). Exclusive range: Redis >= 6.2.
 */
const SEQS_AFTER = `
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
local out = {}
for _, entry in ipairs(entries) do
  local fields = entry[2]
  local seq = ''
  for i = 1, #fields, 2 do
    if fields[i] == 'seq' then seq = fields[i + 1] end
  end
  out[#out + 1] = entry[1]
  out[#out + 1] = seq
end
return out`

/** One stream entry as seen by the observer. */
export interface ObservedEntry {
  seq: number
  /** Epoch ms the entry reached Redis (see `clock`). */
  atMs: number
}

/**
 * Reads every entry of the stream once, in order, from its own connection, while the
 * ingestor writes it: waits with XREAD BLOCK, then fetches ids and seqs in pages. `clock`:
 * 'redis' takes the time from the entry id (Redis' clock when XADD ran: exact, and unaffected
 * by this process being busy; right when Redis runs on this host), 'observer' the time the
 * page arrived here (errs high).
 */
export class StreamObserver {
  /** Entries read so far. */
  entries = 0
  lastSeq: number | null = null
  /** Set when reading failed (Redis gone); finish() rejects with it. */
  error: Error | null = null
  private lastId = '0-0'
  private running = true
  private readonly loop: Promise<void>

  private constructor(
    private readonly redis: Redis,
    private readonly stream: string,
    private readonly clock: 'redis' | 'observer',
    private readonly onEntry: (entry: ObservedEntry) => void,
  ) {
    this.loop = this.run()
    this.loop.catch((err: unknown) => (this.error = err instanceof Error ? err : new Error(String(err))))
  }

  static async start(redisUrl: string, stream: string, clock: 'redis' | 'observer', onEntry: (entry: ObservedEntry) => void): Promise<StreamObserver> {
    return new StreamObserver(await openRedisClient(redisUrl), stream, clock, onEntry)
  }

  /** Reads whatever is left in the stream, then stops. Rejects if reading failed. */
  async finish(): Promise<void> {
    this.running = false
    try {
      await this.loop
      while ((await this.readPage()) === PAGE);
    } finally {
      this.redis.disconnect()
    }
  }

  /** Stops reading at once (after a failure elsewhere); idempotent, also after finish(). */
  close(): void {
    this.running = false
    this.redis.disconnect()
  }

  private async run(): Promise<void> {
    while (this.running) {
      if ((await this.readPage()) > 0) continue
      await this.redis.xread('COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS', this.stream, this.lastId)
    }
  }

  /** Entries handed to onEntry. */
  private async readPage(): Promise<number> {
    const reply = (await this.redis.eval(SEQS_AFTER, 1, this.stream, this.lastId, PAGE)) as string[]
    const arrivedMs = Date.now()
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const id = reply[i]!
      const seq = reply[i + 1] === '' ? Number.NaN : Number(reply[i + 1])
      const atMs = this.clock === 'redis' ? Number(id.slice(0, id.indexOf('-'))) : arrivedMs
      this.entries++
      if (Number.isSafeInteger(seq)) this.lastSeq = seq
      this.onEntry({ seq, atMs })
    }
    if (reply.length > 0) this.lastId = reply[reply.length - 2]!
    return reply.length / 2
  }
}

import { Redis, type Cluster } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { waitUntil } from '../../harness/wait.js'
import type { SequencedEvent } from '../../protocol/events.js'
import { entryFields, toStreamEntry, type StreamEntry } from '../../protocol/stream-entry.js'

/**
 * One redis-server child for the whole test file and a client to it (beforeAll/afterAll);
 * read `.redis` and `.client` inside tests.
 */
export function redisForFile(): { readonly redis: RedisHandle; readonly client: Redis } {
  const file = {} as { redis: RedisHandle; client: Redis }
  beforeAll(async () => {
    file.redis = await startRedis({ kind: 'process' })
    file.client = new Redis(file.redis.url)
  })
  afterAll(async () => {
    file.client?.disconnect()
    await file.redis?.stop()
  })
  return file
}

let unique = 0
/** A fresh stream key per test: one redis-server serves the whole file. */
export const streamKey = (name: string): string => `consumer-test:${name}:${process.pid}:${++unique}`

/** Entries of every type in turn, through the ingestor's own mapping (toStreamEntry). */
export function sampleEntries(firstSeq: number, count: number): StreamEntry[] {
  return Array.from({ length: count }, (_, i) => toStreamEntry(sampleEvent(firstSeq + i, i)))
}

function sampleEvent(seq: number, i: number): SequencedEvent {
  const did = `did:plc:test${i % 7}`
  const time = '2026-01-01T00:00:00.000Z'
  switch (i % 4) {
    case 0: {
      const record = { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: time }
      const ops = [{ action: 'create', path: `app.bsky.feed.post/3k${i}`, cid: 'bafyreib', record }]
      return { type: 'commit', seq, repo: did, rev: `3k${i}`, since: null, commit: 'bafyreic', time, tooBig: false, rebase: false, blobs: [], prevData: null, data: null, ops }
    }
    case 1:
      return { type: 'identity', seq, did, handle: `user${i}.test`, time }
    case 2:
      return { type: 'account', seq, did, active: true, status: null, time }
    default:
      return { type: 'sync', seq, did, rev: `3k${i}`, commit: 'bafyreic', data: null, time }
  }
}

export async function addEntries(client: Redis | Cluster, stream: string, entries: StreamEntry[]): Promise<string[]> {
  const pipeline = client.pipeline()
  for (const entry of entries) pipeline.xadd(stream, '*', ...entryFields(entry))
  const results = (await pipeline.exec()) ?? []
  return results.map(([err, id]) => {
    if (err !== null) throw err
    return id as string
  })
}

/** Entries of the group still pending (delivered, not acked). */
export async function pendingCount(client: Redis | Cluster, stream: string, group = 'firehose-processors'): Promise<number> {
  const summary = (await client.xpending(stream, group)) as [number, ...unknown[]]
  return summary[0]
}

/**
 * Waits until every pending entry of the group has been idle for `minIdleMs` by Redis' own clock,
 * so a claim (XAUTOCLAIM) with that min-idle time takes them all.
 */
export async function waitPendingIdle(client: Redis | Cluster, stream: string, minIdleMs: number, group = 'firehose-processors'): Promise<void> {
  const pending = await pendingCount(client, stream, group)
  await waitUntil(async () => (await client.xpending(stream, group, 'IDLE', minIdleMs, '-', '+', pending)).length === pending, {
    what: `${pending} pending entries idle for ${minIdleMs} ms`,
    timeoutMs: 10_000,
  })
}

/** Dead-letter entries as field maps (the original fields first, then dead-*). */
export async function deadLetters(client: Redis | Cluster, key: string): Promise<{ fields: string[]; map: Record<string, string> }[]> {
  const entries = await client.xrange(key, '-', '+')
  return entries.map(([, fields]) => {
    const map: Record<string, string> = {}
    for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]!] ??= fields[i + 1]!
    return { fields, map }
  })
}

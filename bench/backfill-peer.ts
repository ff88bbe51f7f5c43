import { randomBytes } from 'node:crypto'
import { lexToJson } from '@atproto/lexicon'
import { MemoryBlockstore, Repo, getAndParseRecord, readCarWithRoot } from '@atproto/repo'
import type { Redis } from 'ioredis'
import { snapshotBeginEntry, snapshotEndEntry, snapshotPartEntry, type SnapshotHead, type SnapshotOp } from '../protocol/snapshot-entry.js'
import { entryFields, type StreamEntry } from '../protocol/stream-entry.js'
import { DEFAULT_SNAPSHOT_PART_LIMITS } from '../repo-sync/snapshot-parts.js'

/** XADDs sent before their answers are awaited (at most one such batch in flight). */
const PIPELINE_ENTRIES = 8

/**
 * The peer of a backfill (bench/backfill.ts): what one would write with @atproto/repo. Lists
 * every repo of `pds` (listRepos), then `concurrency` at a time: the whole CAR fetched into
 * memory, `readCarWithRoot` (blocks hashed), `Repo.load`, its MST walked in key order
 * and each record read with `getAndParseRecord`, converted with `lexToJson` and written as the
 * same snapshot entries the ingestor writes (protocol/snapshot-entry.ts; parts closed at the
 * same bounds, 500 records or 1 MiB of ops JSON), XADDed pipelined to `stream`. Returns the
 * repos and records written.
 */
export async function peerBackfill(redis: Redis, stream: string, pds: URL, concurrency: number): Promise<{ repos: number; records: number }> {
  const dids = await listRepos(pds)
  let seq = 0
  const nextSeq = (): number => ++seq
  let next = 0
  let records = 0
  const worker = async (): Promise<void> => {
    while (next < dids.length) {
      const written = await writeSnapshot(redis, stream, pds, dids[next++]!, nextSeq)
      records += written
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { repos: dids.length, records }
}

async function listRepos(pds: URL): Promise<string[]> {
  const dids: string[] = []
  let cursor: string | undefined
  do {
    const url = new URL('/xrpc/com.atproto.sync.listRepos', pds)
    url.searchParams.set('limit', '1000')
    if (cursor !== undefined) url.searchParams.set('cursor', cursor)
    const res = await fetch(url)
    if (res.status !== 200) throw new Error(`listRepos: ${res.status} ${await res.text()}`)
    const page = (await res.json()) as { repos: { did: string }[]; cursor?: string }
    dids.push(...page.repos.map((repo) => repo.did))
    cursor = page.repos.length > 0 ? page.cursor : undefined
  } while (cursor !== undefined)
  return dids
}

/** One repo's snapshot: begin, its parts, end; returns its records. */
async function writeSnapshot(redis: Redis, stream: string, pds: URL, did: string, nextSeq: () => number): Promise<number> {
  const url = new URL('/xrpc/com.atproto.sync.getRepo', pds)
  url.searchParams.set('did', did)
  const res = await fetch(url)
  if (res.status !== 200) throw new Error(`getRepo ${did}: ${res.status} ${await res.text()}`)
  const { root, blocks } = await readCarWithRoot(new Uint8Array(await res.arrayBuffer()))
  const repo = await Repo.load(new MemoryBlockstore(blocks), root)
  const { rev } = repo.commit
  const head: SnapshotHead = { did, id: `${rev}:${randomBytes(4).toString('hex')}`, rev, data: repo.commit.data.toString(), commit: root.toString() }
  const time = (): string => new Date().toISOString()
  const writer = pipelinedWriter(redis, stream)
  await writer.add(snapshotBeginEntry(head, nextSeq(), time()))
  const { maxRecords, maxBytes } = DEFAULT_SNAPSHOT_PART_LIMITS
  let part: SnapshotOp[] = []
  let bytes = 0
  let parts = 0
  let records = 0
  const close = async (): Promise<void> => {
    await writer.add(snapshotPartEntry(head, parts++, part, nextSeq(), time()))
    records += part.length
    part = []
  }
  for await (const leaf of repo.data.walkLeavesFrom('')) {
    const { record } = await getAndParseRecord(blocks, leaf.value)
    const op: SnapshotOp = { action: 'create', path: leaf.key, cid: leaf.value.toString(), record: lexToJson(record) }
    const size = Buffer.byteLength(JSON.stringify(op))
    if (part.length > 0 && (part.length >= maxRecords || bytes + 1 + size > maxBytes)) await close()
    bytes = part.length === 0 ? 2 + size : bytes + 1 + size
    part.push(op)
  }
  if (part.length > 0) await close()
  await writer.add(snapshotEndEntry(head, { records, parts, complete: true }, nextSeq(), time()))
  await writer.flush()
  return records
}

/** XADDs in pipelines of PIPELINE_ENTRIES: one batch is sent while the next fills. */
function pipelinedWriter(redis: Redis, stream: string): { add(entry: StreamEntry): Promise<void>; flush(): Promise<void> } {
  let pipeline = redis.pipeline()
  let queued = 0
  let inFlight: Promise<unknown> = Promise.resolve()
  const send = async (): Promise<void> => {
    await inFlight
    inFlight = pipeline.exec().then(failed)
    pipeline = redis.pipeline()
    queued = 0
  }
  return {
    add: async (entry) => {
      pipeline.xadd(stream, '*', ...entryFields(entry))
      if (++queued >= PIPELINE_ENTRIES) await send()
    },
    flush: async () => {
      if (queued > 0) await send()
      await inFlight
    },
  }
}

/** A pipeline's answers: throws the first error among them. */
function failed(answers: [Error | null, unknown][] | null): void {
  const error = answers?.find(([err]) => err !== null)?.[0]
  if (error) throw error
}

import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { IdResolver, MemoryCache, type DidDocument } from '@atproto/identity'
import { Firehose } from '@atproto/sync'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { openFixture } from '../../fixture-file/index.js'
import { decodeFrame } from '../../protocol/frame.js'
import { startReplay } from '../../replay/index.js'
import { SCENARIOS, seqOf, tempDir, writeFixture, type TestFrame } from './helpers.js'

/**
 * The official @atproto/sync Firehose client against the replay server, with commit
 * signatures verified against DID documents (pre-filled DID cache, handles resolved from the
 * documents' alsoKnownAs: no network). Every event must arrive, 0 errors. Two datasets: the
 * committed generator fixture with its DID documents, and real indigo relay scenario frames.
 * Scenarios whose frames a relay would drop or flag (rev/seq ordering, legacy) are left out:
 * the TS client checks signatures, not ordering, so they would "pass" for the wrong reason.
 */
const VALID_SCENARIOS = ['account_lifecycle', 'deactivation', 'post_lifecycle']

let dir: Awaited<ReturnType<typeof tempDir>>
let file: string
let frames: TestFrame[]
const scenarioDocs: Record<string, DidDocument> = {}
const GENERATED = new URL('../../fixtures/generated.fixture.gz', import.meta.url).pathname

beforeAll(async () => {
  dir = await tempDir()
  frames = []
  for (const scenario of VALID_SCENARIOS) {
    Object.assign(scenarioDocs, JSON.parse(await readFile(join(SCENARIOS, scenario, 'did-docs.json'), 'utf8')))
    const framesDir = join(SCENARIOS, scenario, 'frames')
    for (const name of (await readdir(framesDir)).sort()) {
      frames.push({ bytes: new Uint8Array(await readFile(join(framesDir, name))), timeUs: 1_700_000_000_000_000 + frames.length * 1_000 })
    }
  }
  file = join(dir.dir, 'scenarios.fixture.gz')
  await writeFixture(file, frames)
})
afterAll(async () => dir.cleanup())

/** Events the official client yields for a frame: one per commit op, one per identity/account/sync. */
function expectedEvents(bytes: Uint8Array): string[] {
  const { header, body } = decodeFrame(bytes)
  if (header.op !== 1) return []
  const seq = seqOf(bytes)
  if (header.t === '#commit') return (body.ops as { action: string; path: string }[]).map((op) => `${seq}:${op.action}:${op.path}`)
  if (header.t === '#identity') return [`${seq}:identity`]
  if (header.t === '#account') return [`${seq}:account`]
  if (header.t === '#sync') return [`${seq}:sync`]
  return []
}

async function offlineIdResolver(didDocs: Record<string, DidDocument>): Promise<IdResolver> {
  const didCache = new MemoryCache()
  for (const [did, doc] of Object.entries(didDocs)) await didCache.cacheDid(did, doc)
  const idResolver = new IdResolver({ didCache, plcUrl: 'http://127.0.0.1:9' })
  const handles = new Map<string, string>()
  for (const [did, doc] of Object.entries(didDocs)) {
    for (const aka of doc.alsoKnownAs ?? []) if (aka.startsWith('at://')) handles.set(aka.slice(5), did)
  }
  idResolver.handle.resolve = async (handle: string) => handles.get(handle)
  return idResolver
}

async function runFirehose(fixture: string, frames: TestFrame[], didDocs: Record<string, DidDocument>): Promise<void> {
  const replay = await startReplay({ files: [fixture], start: 'first-client' })
  const seen: string[] = []
  const errors: Error[] = []
  const expected = frames.flatMap((frame) => expectedEvents(frame.bytes))
  let done!: () => void
  const allSeen = new Promise<void>((resolve) => (done = resolve))
  const firehose = new Firehose({
    service: replay.httpUrl.replace('http://', 'ws://'),
    // The client pings every 10 s and silently reconnects (live, losing events) when the pong
    // is late; the pong queues behind frames it has not read yet, and signature checks here
    // are slower than --max sends. A longer heartbeat keeps this a test of the frames.
    ...({ heartbeatIntervalMs: 300_000 } as object),
    idResolver: await offlineIdResolver(didDocs),
    handleEvent: (evt) => {
      const op = evt.event === 'create' || evt.event === 'update' || evt.event === 'delete'
      seen.push(op ? `${evt.seq}:${evt.event}:${evt.collection}/${evt.rkey}` : `${evt.seq}:${evt.event}`)
      if (seen.length === expected.length) done()
    },
    onError: (err) => errors.push(err),
  })
  void firehose.start()
  try {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `saw ${seen.length}/${expected.length}; errors: ${errors
                .slice(0, 5)
                .map((e) => `${e.message}: ${String(e.cause)}`)
                .join('; ')}`,
            ),
          ),
        90_000,
      )
    })
    await Promise.race([allSeen, timeout]).finally(() => clearTimeout(timer))
    expect(errors).toEqual([])
    expect(seen).toEqual(expected)
    const status = replay.status()
    expect(status.clients).toHaveLength(1)
    expect(status.clients[0]?.framesSent).toBe(frames.length)
  } finally {
    await firehose.destroy()
    await replay.close()
  }
}

describe('@atproto/sync Firehose against the replay server: authenticated, every event seen, 0 errors', () => {
  test('committed generator fixture with its DID documents', async () => {
    const docs = JSON.parse(await readFile(`${GENERATED}.did-docs.json`, 'utf8')) as Record<string, DidDocument>
    const reader = await openFixture(GENERATED)
    const generated: TestFrame[] = []
    for await (const frame of reader.frames()) generated.push({ bytes: frame.bytes.slice(), timeUs: frame.timeUs })
    await reader.close()
    await runFirehose(GENERATED, generated, docs)
  }, 120_000)

  test('real indigo relay scenario frames with their DID documents', async () => {
    await runFirehose(file, frames, scenarioDocs)
  })
})

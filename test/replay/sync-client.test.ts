import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { IdResolver, MemoryCache, type DidDocument } from '@atproto/identity'
import { Firehose } from '@atproto/sync'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { decodeFrame } from '../../protocol/frame.js'
import { startReplay } from '../../replay/index.js'
import { SCENARIOS, seqOf, tempDir, writeFixture, type TestFrame } from './helpers.js'

/**
 * The official @atproto/sync Firehose client against the replay server, with commit
 * signatures verified against the scenario DID documents (pre-filled DID cache, handles
 * resolved from the documents' alsoKnownAs: no network). Every event must arrive, 0 errors.
 * Scenarios whose frames a relay would drop or flag (rev/seq ordering, legacy) are left out:
 * the TS client checks signatures, not ordering, so they would "pass" for the wrong reason.
 */
const VALID_SCENARIOS = ['account_lifecycle', 'deactivation', 'post_lifecycle']

let dir: Awaited<ReturnType<typeof tempDir>>
let file: string
let frames: TestFrame[]
const didDocs: Record<string, DidDocument> = {}

beforeAll(async () => {
  dir = await tempDir()
  frames = []
  for (const scenario of VALID_SCENARIOS) {
    Object.assign(didDocs, JSON.parse(await readFile(join(SCENARIOS, scenario, 'did-docs.json'), 'utf8')))
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

async function offlineIdResolver(): Promise<IdResolver> {
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

test('@atproto/sync Firehose: authenticated, every event seen, 0 errors', async () => {
  const replay = await startReplay({ files: [file], start: 'first-client' })
  const seen: string[] = []
  const errors: Error[] = []
  const expected = frames.flatMap((frame) => expectedEvents(frame.bytes))
  let done!: () => void
  const allSeen = new Promise<void>((resolve) => (done = resolve))
  const firehose = new Firehose({
    service: replay.httpUrl.replace('http://', 'ws://'),
    idResolver: await offlineIdResolver(),
    handleEvent: (evt) => {
      const op = evt.event === 'create' || evt.event === 'update' || evt.event === 'delete'
      seen.push(op ? `${evt.seq}:${evt.event}:${evt.collection}/${evt.rkey}` : `${evt.seq}:${evt.event}`)
      if (seen.length === expected.length) done()
    },
    onError: (err) => errors.push(err),
  })
  void firehose.start()
  try {
    await Promise.race([allSeen, new Promise((_, reject) => setTimeout(() => reject(new Error(`saw ${seen.length}/${expected.length}; errors: ${errors.map((e) => `${e.message}: ${String(e.cause)}`).join('; ')}`)), 15_000))])
    expect(errors).toEqual([])
    expect(seen).toEqual(expected)
    const status = replay.status()
    expect(status.clients).toHaveLength(1)
    expect(status.clients[0]?.framesSent).toBe(frames.length)
  } finally {
    await firehose.destroy()
    await replay.close()
  }
})

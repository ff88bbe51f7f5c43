import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { IdResolver, MemoryCache } from '@atproto/identity'
import { Firehose, type Event } from '@atproto/sync'
import { http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { WebSocketServer } from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeEvent, type CommitEvent } from '../../protocol/events.js'
import { generate, tempDir, type Generated } from './helpers.js'

const SEED = 20250602
const PLC = 'https://plc.generator.test'

/**
 * The official TypeScript consumer (@atproto/sync Firehose) reads the generated frames from a
 * real WebSocket server and verifies every commit: signature against the key in the DID
 * document (resolved over HTTP from a PLC directory served by msw) and MST proofs of each op.
 */
describe('generated frames pass the official @atproto/sync client', () => {
  let fixture: Generated
  let cleanup: () => Promise<void>
  const plc = setupServer()

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanup = tmp.cleanup
    fixture = await generate(tmp.dir, 'verify.fixture.gz', { events: 600, accounts: 40, seed: SEED, workers: 0 })
    plc.use(
      http.get(`${PLC}/:did`, ({ params }) => {
        const doc = fixture.didDocs[decodeURIComponent(String(params.did))]
        return doc ? HttpResponse.json(doc) : new HttpResponse(null, { status: 404 })
      }),
    )
    plc.listen({ onUnhandledRequest: 'bypass' })
  }, 120_000)

  afterAll(async () => {
    plc.close()
    await cleanup?.()
  })

  /** Serves `frames` over a real WebSocket to the official client; resolves when every expected event or error arrived. */
  async function runOfficialClient(frames: Generated['frames']): Promise<{ expected: number; seen: Event[]; errors: Error[] }> {
    // What the client should emit: one event per op of a commit, one per #identity/#account/#sync.
    let expected = 0
    for (const frame of frames) {
      const event = decodeEvent(frame.bytes)
      if (event.type === 'commit') expected += event.ops.length
      else if (event.type === 'identity' || event.type === 'account' || event.type === 'sync') expected += 1
    }
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    await once(wss, 'listening')
    wss.on('connection', (socket) => {
      for (const frame of frames) socket.send(frame.bytes)
    })
    const errors: Error[] = []
    const seen: Event[] = []
    let resolveDone!: () => void
    const done = new Promise<void>((resolve) => (resolveDone = resolve))
    // A commit that fails verification yields one error instead of one event per op.
    const settled = (): void => {
      if (seen.length + errors.length >= expected || errors.length > 0) resolveDone()
    }
    const firehose = new Firehose({
      service: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
      idResolver: new IdResolver({ plcUrl: PLC, didCache: new MemoryCache() }),
      // Handle verification needs DNS; this test is about repo signatures and proofs.
      unauthenticatedHandles: true,
      handleEvent: (evt) => {
        seen.push(evt)
        settled()
      },
      onError: (err) => {
        errors.push(err)
        settled()
      },
    })
    void firehose.start()
    try {
      await done
    } finally {
      await firehose.destroy()
      for (const client of wss.clients) client.terminate()
      wss.close()
    }
    return { expected, seen, errors }
  }

  it('verifies every commit signature and proof, and sees every event', async () => {
    const { expected, seen, errors } = await runOfficialClient(fixture.frames)
    const describeError = (err: Error): string => `${err.message}: ${String((err.cause as Error | undefined)?.message ?? '')}`
    expect(errors.map(describeError), `seed ${SEED}`).toEqual([])
    expect(seen.length, `seed ${SEED}`).toBe(expected)
    const kinds = new Set(seen.map((e) => e.event))
    expect([...kinds].sort()).toEqual(['account', 'create', 'delete', 'identity', 'sync', 'update'])
  }, 120_000)

  it('rejects a commit when the DID document holds another key (the check can fail)', async () => {
    const firstCommit = fixture.frames.findIndex((f) => decodeEvent(f.bytes).type === 'commit')
    const event = decodeEvent(fixture.frames[firstCommit]!.bytes) as CommitEvent
    const other = Object.keys(fixture.didDocs).find((did) => did !== event.repo)!
    const original = fixture.didDocs[event.repo]!
    type Method = { publicKeyMultibase: string }
    const [method] = original.verificationMethod as Method[]
    const [otherMethod] = fixture.didDocs[other]!.verificationMethod as Method[]
    fixture.didDocs[event.repo] = { ...original, verificationMethod: [{ ...method, publicKeyMultibase: otherMethod!.publicKeyMultibase }] }
    try {
      const { errors } = await runOfficialClient([fixture.frames[firstCommit]!])
      expect(errors.length, `seed ${SEED}`).toBe(1)
      expect(String((errors[0]!.cause as Error).message)).toMatch(/^Invalid signature on commit/)
    } finally {
      fixture.didDocs[event.repo] = original
    }
  }, 120_000)
})

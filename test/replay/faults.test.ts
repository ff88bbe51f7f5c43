import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ioTurns } from '../../harness/wait.js'
import { FrameDecodeError } from '../../protocol/errors.js'
import { DEFAULT_MAX_FRAME_BYTES, decodeFrame } from '../../protocol/frame.js'
import { loadFaultPlan, parseFaultFlag, parseFaultSpec, startReplay, withSeq, type FaultSpec, type ReplayHandle } from '../../replay/index.js'
import { sameBytes, seqOf, sequencedFrames, subscribe, tempDir, until, writeFixture, type Received, type TestFrame } from './helpers.js'

const SEED = 20240601
let dir: Awaited<ReturnType<typeof tempDir>>
let frames: TestFrame[]
let file: string
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

beforeAll(async () => {
  dir = await tempDir()
  frames = await sequencedFrames(100) // seqs 1..100, real frame bytes
  file = join(dir.dir, 'faults.fixture.gz')
  await writeFixture(file, frames)
})
afterAll(async () => dir.cleanup())

/** One client subscribed from the first frame, the given faults planned; returns after `check`. */
async function withFault(faults: FaultSpec[], run: (client: Received, replay: ReplayHandle) => Promise<void>): Promise<void> {
  const replay = await startReplay({ files: [file], start: 'first-client', faults, seed: SEED })
  const client = subscribe(replay.url)
  try {
    await run(client, replay)
  } catch (err) {
    throw new Error(`${(err as Error).message} (seed ${SEED}, status ${JSON.stringify(replay.status().clients)})`, { cause: err })
  } finally {
    await client.close()
    await replay.close()
  }
}

const decodeFails = (bytes: Uint8Array): string => {
  try {
    decodeFrame(bytes)
    return 'decoded'
  } catch (err) {
    return err instanceof FrameDecodeError ? err.code : 'other'
  }
}

describe('connection faults', () => {
  test('drop: abrupt TCP close (1006) after frame N, no close frame', async () => {
    await withFault([{ kind: 'drop', atFrame: 20 }], async (client, replay) => {
      await client.closed
      expect(client.closeCode).toBe(1006)
      expect(client.frames.length).toBeLessThanOrEqual(20)
      expect(client.frames.map(seqOf)).toEqual(range(1, client.frames.length))
      expect(replay.status().clients[0]?.faults).toEqual([{ kind: 'drop', atFrame: 20, seqs: [] }])
    })
  })

  test('close: clean close with the chosen code and reason after exactly N frames', async () => {
    await withFault([{ kind: 'close', atFrame: 30, code: 4001, reason: 'bye' }], async (client, replay) => {
      await client.closed
      expect(client.closeCode).toBe(4001)
      expect(client.closeReason).toBe('bye')
      expect(client.frames.map(seqOf)).toEqual(range(1, 30))
      const status = await until(replay, (s) => s.clients[0]?.connected === false)
      expect(status.clients[0]).toMatchObject({ closeCode: 4001, framesSent: 30, lastSeqSent: 30 })
    })
  })

  test('stall: socket open, no frames and no pongs, then the stream resumes where it was', async () => {
    await withFault([{ kind: 'stall', atFrame: 10, durationMs: 1500 }], async (client, replay) => {
      await client.waitFor(10)
      let pongs = 0
      client.ws.on('pong', () => pongs++)
      client.ws.ping()
      // All 100 published (max rate): a server not stalled would send the rest and answer the ping within these turns.
      await until(replay, (s) => s.finished)
      await ioTurns()
      expect(client.frames).toHaveLength(10)
      expect(pongs).toBe(0)
      await client.waitFor(100)
      expect(client.frames.map(seqOf)).toEqual(range(1, 100))
      client.ws.ping()
      await new Promise<void>((resolve) => client.ws.once('pong', () => resolve()))
    })
  })

  test('refuse-handshake: the next N upgrades get the status with Retry-After, then connections work', async () => {
    const replay = await startReplay({ files: [file], start: 'paused', seed: SEED })
    try {
      replay.injectFault({ kind: 'refuse-handshake', count: 2, status: 429, retryAfterSec: 7 })
      for (let i = 0; i < 2; i++) {
        const refused = subscribe(replay.url)
        const response = await new Promise<{ status: number; retryAfter: string | undefined }>((resolve) =>
          refused.ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] })),
        )
        expect(response).toEqual({ status: 429, retryAfter: '7' })
        await refused.close()
      }
      const ok = subscribe(replay.url)
      await ok.opened
      await ok.close()
      expect(replay.status().handshakesRefused).toEqual([
        { atFrame: 0, status: 429, retryAfterSec: 7 },
        { atFrame: 0, status: 429, retryAfterSec: 7 },
      ])
    } finally {
      await replay.close()
    }
  })
})

describe('frame faults', () => {
  test('garbage: seeded random messages inserted after frame N; nothing recorded is lost', async () => {
    const run = async (): Promise<Uint8Array[]> => {
      let garbage: Uint8Array[] = []
      await withFault([{ kind: 'garbage', atFrame: 5, count: 2, bytes: 32 }], async (client, replay) => {
        await client.waitFor(102)
        expect(client.frames.slice(0, 5).map(seqOf)).toEqual(range(1, 5))
        garbage = client.frames.slice(5, 7)
        expect(garbage.map((g) => g.byteLength)).toEqual([32, 32])
        expect(client.frames.slice(7).map(seqOf)).toEqual(range(6, 100))
        expect(replay.status().clients[0]?.faults).toEqual([{ kind: 'garbage', atFrame: 5, seqs: [] }])
      })
      return garbage
    }
    const first = await run()
    const second = await run()
    expect(first.map((g, i) => sameBytes(g, second[i]!))).toEqual([true, true]) // same seed, same bytes
  })

  test('truncate: the next frames cut short (decoder sees FRAME_TRUNCATED), seqs recorded', async () => {
    await withFault([{ kind: 'truncate', atFrame: 10, count: 2 }], async (client, replay) => {
      await client.waitFor(100)
      for (const i of [10, 11]) {
        expect(client.frames[i]!.byteLength).toBeLessThan(frames[i]!.bytes.byteLength)
        expect(sameBytes(client.frames[i]!, frames[i]!.bytes.subarray(0, client.frames[i]!.byteLength))).toBe(true)
        expect(decodeFails(client.frames[i]!)).toBe('FRAME_TRUNCATED')
      }
      expect(client.frames.slice(12).map(seqOf)).toEqual(range(13, 100))
      expect(replay.status().clients[0]?.faults).toEqual([{ kind: 'truncate', atFrame: 10, seqs: [11, 12] }])
    })
  })

  test('oversize: an extra frame past the 5 MB relay limit', async () => {
    await withFault([{ kind: 'oversize', atFrame: 3 }], async (client) => {
      await client.waitFor(101)
      expect(client.frames[3]!.byteLength).toBeGreaterThan(DEFAULT_MAX_FRAME_BYTES)
      expect(decodeFails(client.frames[3]!)).toBe('FRAME_TOO_LARGE')
      expect(decodeFrame(client.frames[3]!, { maxFrameBytes: 10_000_000 }).header).toEqual({ op: 1, t: '#commit' })
      expect([...client.frames.slice(0, 3), ...client.frames.slice(4)].map(seqOf)).toEqual(range(1, 100))
    })
  })

  test('unknown-type: an extra well-formed frame with an unknown t', async () => {
    await withFault([{ kind: 'unknown-type', atFrame: 3, type: '#future' }], async (client) => {
      await client.waitFor(101)
      expect(decodeFrame(client.frames[3]!).header).toEqual({ op: 1, t: '#future' })
    })
  })

  test('duplicate: the last N frames sent again', async () => {
    await withFault([{ kind: 'duplicate', atFrame: 10, count: 3 }], async (client, replay) => {
      await client.waitFor(103)
      expect(client.frames.map(seqOf)).toEqual([...range(1, 10), 8, 9, 10, ...range(11, 100)])
      expect(sameBytes(client.frames[10]!, frames[7]!.bytes)).toBe(true)
      expect(replay.status().clients[0]?.faults).toEqual([{ kind: 'duplicate', atFrame: 10, seqs: [8, 9, 10] }])
    })
  })

  test('regress: the next frame carries a seq below the previous one; only the seq bytes change', async () => {
    await withFault([{ kind: 'regress', atFrame: 10, by: 5 }], async (client, replay) => {
      await client.waitFor(100)
      expect(client.frames.map(seqOf)).toEqual([...range(1, 10), 5, ...range(12, 100)])
      expect(sameBytes(client.frames[10]!, withSeq(frames[10]!.bytes, 5))).toBe(true)
      expect(replay.status().clients[0]?.faults).toEqual([{ kind: 'regress', atFrame: 10, seqs: [11] }])
    })
  })

  test('swallow: a true gap, the swallowed seqs listed in status', async () => {
    await withFault([{ kind: 'swallow', atFrame: 10, count: 4 }], async (client, replay) => {
      await client.waitFor(96)
      expect(client.frames.map(seqOf)).toEqual([...range(1, 10), ...range(15, 100)])
      expect(replay.status().clients[0]).toMatchObject({ faults: [{ kind: 'swallow', atFrame: 10, seqs: [11, 12, 13, 14] }], framesSent: 96 })
    })
  })

  test('error-frame: ConsumerTooSlow then close 1008', async () => {
    await withFault([{ kind: 'error-frame', atFrame: 10, error: 'ConsumerTooSlow', message: 'slow' }], async (client) => {
      await client.closed
      expect(client.frames.slice(0, 10).map(seqOf)).toEqual(range(1, 10))
      expect(client.frames).toHaveLength(11)
      expect(decodeFrame(client.frames[10]!)).toEqual({ header: { op: -1 }, body: { error: 'ConsumerTooSlow', message: 'slow' } })
      expect(client.closeCode).toBe(1008)
    })
  })

  test('error-frame with close: false (FutureCursor) keeps streaming', async () => {
    await withFault([{ kind: 'error-frame', atFrame: 10, error: 'FutureCursor', close: false }], async (client) => {
      await client.waitFor(101)
      expect(decodeFrame(client.frames[10]!).body).toEqual({ error: 'FutureCursor' })
      expect(client.ws.readyState).toBe(client.ws.OPEN)
    })
  })

  test('info: #info OutdatedCursor inserted', async () => {
    await withFault([{ kind: 'info', atFrame: 50 }], async (client) => {
      await client.waitFor(101)
      expect(decodeFrame(client.frames[50]!)).toEqual({ header: { op: 1, t: '#info' }, body: { name: 'OutdatedCursor' } })
    })
  })
})

describe('scheduling and targeting', () => {
  test('faults stack in order at their frames; one client targeted by id', async () => {
    const replay = await startReplay({ files: [file], start: 'paused', seed: SEED })
    const a = subscribe(replay.url)
    const b = subscribe(replay.url)
    try {
      await until(replay, (s) => s.clients.filter((c) => c.connected).length === 2)
      const idB = replay.status().clients[1]!.id
      replay.injectFault({ kind: 'swallow', atFrame: 20, count: 2, client: idB })
      replay.injectFault({ kind: 'duplicate', atFrame: 40, count: 1, client: idB })
      replay.resume()
      await a.waitFor(100)
      await b.waitFor(99)
      expect(a.frames.map(seqOf)).toEqual(range(1, 100))
      expect(b.frames.map(seqOf)).toEqual([...range(1, 20), ...range(23, 40), 40, ...range(41, 100)])
      const [statusA, statusB] = replay.status().clients
      expect(statusA?.faults).toEqual([])
      expect(statusB?.faults).toEqual([
        { kind: 'swallow', atFrame: 20, seqs: [21, 22] },
        { kind: 'duplicate', atFrame: 38, seqs: [40] },
      ])
    } finally {
      await Promise.all([a.close(), b.close()])
      await replay.close()
    }
  })

  test('afterMs faults fire on time; POST /_replay/fault injects at run time', async () => {
    const replay = await startReplay({ files: [file], rate: { mode: 'rate', eventsPerSec: 50 }, start: 'first-client', seed: SEED })
    const client = subscribe(replay.url)
    try {
      await client.waitFor(3)
      const response = await fetch(`${replay.httpUrl}/_replay/fault`, { method: 'POST', body: JSON.stringify({ kind: 'close', code: 4002, afterMs: 100 }) })
      expect(response.status).toBe(200)
      await client.closed
      expect(client.closeCode).toBe(4002)
      expect(client.frames.map(seqOf)).toEqual(range(1, client.frames.length))
      const bad = await fetch(`${replay.httpUrl}/_replay/fault`, { method: 'POST', body: JSON.stringify({ kind: 'close', code: 1005 }) })
      expect(bad.status).toBe(400)
      expect(((await bad.json()) as { error: string }).error).toBe('REPLAY_BAD_FAULT')
    } finally {
      await client.close()
      await replay.close()
    }
  })

  test('plan file: ranges resolved from the seed, identically for the same seed', async () => {
    const planPath = join(dir.dir, 'plan.json')
    await writeFile(planPath, JSON.stringify({ seed: 77, faults: [{ kind: 'swallow', atFrame: [10, 80], count: 1 }] }))
    const plan = await loadFaultPlan(planPath)
    expect(plan.seed).toBe(77)
    const swallowed: number[][] = []
    for (let run = 0; run < 2; run++) {
      const replay = await startReplay({ files: [file], start: 'first-client', faults: plan.faults, seed: plan.seed! })
      const client = subscribe(replay.url)
      await client.waitFor(99)
      const record = replay.status().clients[0]!.faults[0]!
      expect(record.atFrame).toBeGreaterThanOrEqual(10)
      expect(record.atFrame).toBeLessThanOrEqual(80)
      expect(client.frames.map(seqOf)).toEqual(range(1, 100).filter((seq) => !record.seqs.includes(seq)))
      swallowed.push(record.seqs)
      await client.close()
      await replay.close()
    }
    expect(swallowed[0]).toEqual(swallowed[1])
  })

  test('fault specs are validated strictly', () => {
    expect(parseFaultFlag('swallow:count=3,atFrame=100..200')).toEqual({ kind: 'swallow', count: 3, atFrame: [100, 200] })
    expect(parseFaultFlag('error-frame:error=ConsumerTooSlow,close=false')).toEqual({ kind: 'error-frame', error: 'ConsumerTooSlow', close: false })
    for (const bad of [
      { kind: 'explode' },
      { kind: 'drop', count: 2 },
      { kind: 'close', code: 1006 },
      { kind: 'refuse-handshake', status: 500 },
      { kind: 'swallow', count: 0 },
      { kind: 'error-frame' },
      { kind: 'drop', atFrame: 5, afterMs: 5 },
      { kind: 'drop', atFrame: [9, 3] },
    ]) {
      expect(() => parseFaultSpec(bad), JSON.stringify(bad)).toThrow(/invalid fault/)
    }
  })
})

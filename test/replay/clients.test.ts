import { open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { decodeFrame } from '../../protocol/frame.js'
import { WebSocket } from 'ws'
import { ReplayError, startReplay, withSeq } from '../../replay/index.js'
import { sameBytes, seqOf, sequencedFrames, subscribe, syntheticFrames, tempDir, until, writeFixture, type TestFrame } from './helpers.js'

let dir: Awaited<ReturnType<typeof tempDir>>
let frames: TestFrame[]
let file: string
beforeAll(async () => {
  dir = await tempDir()
  frames = await sequencedFrames(3_000, { firstSeq: 1_000 })
  file = join(dir.dir, 'clients.fixture.gz')
  await writeFixture(file, frames)
})
afterAll(async () => dir.cleanup())

describe('several clients', () => {
  test('each client has its own position; all get complete, ordered, byte-exact streams', async () => {
    const replay = await startReplay({ files: [file], rate: { mode: 'rate', eventsPerSec: 5_000 } })
    try {
      const early = subscribe(replay.url, '?cursor=0')
      await until(replay, (s) => s.framesPublished >= 1_000)
      const cursors = [0, 1_200, 1_500, 1_950] // all at or below the head (seq 1999 after 1000 frames)
      const clients = cursors.map((cursor) => subscribe(replay.url, `?cursor=${cursor}`))
      const all = [early, ...clients]
      const starts = [999, ...cursors.map((c) => Math.max(c, 999))]
      await Promise.all(all.map((client, i) => client.waitFor(3_999 - starts[i]!, 15_000)))
      all.forEach((client, i) => {
        const offset = starts[i]! - 999
        expect(client.frames.length).toBe(frames.length - offset)
        expect(client.frames.every((bytes, k) => sameBytes(bytes, frames[offset + k]!.bytes))).toBe(true)
      })
      const status = await until(replay, (s) => s.finished)
      expect(status.clients.map((c) => c.lastSeqSent)).toEqual(all.map(() => 3_999))
      expect(status.clients.map((c) => c.cursorAsked)).toEqual([0, ...cursors])
      await Promise.all(all.map((client) => client.close()))
    } finally {
      await replay.close()
    }
  })

  test('a client that stops reading gets ConsumerTooSlow and is closed; the others are unaffected', async () => {
    const big = join(dir.dir, 'big.fixture.gz')
    await writeFixture(big, await sequencedFrames(20_000)) // ~80 MB of frames: more than socket buffers hold
    // Outbox 5000 frames = 0.5 s at 10k/s: beyond a healthy client's jitter even on a loaded CI machine
    // (the healthy client reads on this process's event loop: at 2000 frames, 0.2 s, a stall at load 8
    // once cost it its connection), and the stuck client owes that much plus what its socket buffers
    // (kernel + 512 KiB, ~2,500 frames) absorb well before the 20,000 frames run out.
    const replay = await startReplay({ files: [big], rate: { mode: 'rate', eventsPerSec: 10_000 }, outbox: 5_000, start: 'paused', preloadMaxBytes: 0 })
    try {
      const stuck = subscribe(replay.url)
      const healthy = subscribe(replay.url)
      await Promise.all([stuck.opened, healthy.opened])
      const stuckSocket = (stuck.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
      stuckSocket.pause()
      replay.resume()
      const status = await until(replay, (s) => s.clients[0]?.closeReason === 'ConsumerTooSlow', 20_000)
      stuckSocket.resume()
      await stuck.closed
      const last = stuck.frames[stuck.frames.length - 1]!
      expect(decodeFrame(last)).toMatchObject({ header: { op: -1 }, body: { error: 'ConsumerTooSlow' } })
      expect(stuck.closeCode).toBe(1008)
      expect(stuck.frames.slice(0, -1).map(seqOf)).toEqual(Array.from({ length: stuck.frames.length - 1 }, (_, i) => i + 1))
      expect(status.clients[1]?.connected).toBe(true)
      await healthy.waitFor(20_000, 20_000).catch((err: Error) => {
        throw new Error(`${err.message}; status ${JSON.stringify(replay.status())}`)
      })
      expect(healthy.frames.map(seqOf).every((seq, i) => seq === i + 1)).toBe(true)
      await healthy.close()
    } finally {
      await replay.close()
    }
  })

  test('--max paces to the slowest client: it never owes more than the outbox', async () => {
    const replay = await startReplay({ files: [file], outbox: 64, start: 'paused' })
    try {
      const clients = [subscribe(replay.url), subscribe(replay.url)]
      await until(replay, (s) => s.clients.filter((c) => c.connected).length === 2)
      replay.resume()
      await Promise.all(clients.map((client) => client.waitFor(3_000)))
      expect(replay.status().clients.every((c) => c.closeCode === null && c.framesSent === 3_000)).toBe(true)
      await Promise.all(clients.map((client) => client.close()))
    } finally {
      await replay.close()
    }
  })
})

describe('pings', () => {
  test('the server pings; a client that never answers is dropped, one that does stays', async () => {
    const replay = await startReplay({ files: [file], start: 'paused', pingIntervalMs: 300 })
    try {
      const silent = new WebSocket(replay.url, { autoPong: false })
      const polite = subscribe(replay.url)
      let pings = 0
      polite.ws.on('ping', () => pings++)
      const silentClosed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)))
      expect(await silentClosed).toBe(1006)
      const status = await until(replay, (s) => s.clients.some((c) => c.closeReason === 'no pong' && !c.connected))
      expect(status.clients.filter((c) => c.connected).map((c) => c.closeReason)).toEqual([null])
      expect(pings).toBeGreaterThanOrEqual(2)
      // And it answers our pings.
      polite.ws.ping()
      await new Promise<void>((resolve) => polite.ws.once('pong', () => resolve()))
      await polite.close()
    } finally {
      await replay.close()
    }
  })
})

describe.each([
  ['preloaded', undefined],
  ['streamed from disk', 0],
])('--loop and rotated files (%s)', (_name, preloadMaxBytes) => {
  test('replays again with seqs shifted past the previous round; only the seq bytes change', async () => {
    const small = join(dir.dir, 'loop.fixture.gz')
    const loopFrames = await sequencedFrames(10, { firstSeq: 5 })
    await writeFixture(small, loopFrames)
    const replay = await startReplay({ files: [small], loop: true, start: 'first-client', rate: { mode: 'rate', eventsPerSec: 2_000 }, preloadMaxBytes })
    try {
      const client = subscribe(replay.url)
      await client.waitFor(35)
      expect(client.frames.slice(0, 35).map(seqOf)).toEqual(Array.from({ length: 35 }, (_, i) => 5 + i))
      for (let i = 0; i < 35; i++) {
        const round = Math.floor(i / 10)
        const original = loopFrames[i % 10]!.bytes
        expect(sameBytes(client.frames[i]!, round === 0 ? original : withSeq(original, seqOf(original)! + round * 10))).toBe(true)
      }
      expect(replay.status().finished).toBe(false)
      await client.close()
    } finally {
      await replay.close()
    }
  })

  test('rotated files play in order as one timeline', async () => {
    const parts = [join(dir.dir, 'rot.000.gz'), join(dir.dir, 'rot.001.gz')]
    await writeFixture(parts[0]!, frames.slice(0, 40))
    await writeFixture(parts[1]!, frames.slice(40, 100))
    const replay = await startReplay({ files: parts, start: 'first-client', preloadMaxBytes })
    try {
      const client = subscribe(replay.url)
      await client.waitFor(100)
      expect(client.frames.every((bytes, i) => sameBytes(bytes, frames[i]!.bytes))).toBe(true)
      await client.close()
    } finally {
      await replay.close()
    }
  })
})

describe('start-up checks', () => {
  test('a missing fixture fails at start with a clear message', async () => {
    const missing = join(dir.dir, 'nope.fixture.gz')
    await expect(startReplay({ files: [file, missing] })).rejects.toMatchObject({ code: 'REPLAY_BAD_FIXTURE', message: expect.stringContaining(missing) })
  })

  test('a corrupt fixture fails at start, naming the file and the cause', async () => {
    const corrupt = join(dir.dir, 'corrupt.fixture')
    await writeFixture(corrupt, syntheticFrames(500))
    const handle = await open(corrupt, 'r+')
    await handle.write(Buffer.from('this is not a record'), 0, 20, 2_000)
    await handle.close()
    const err: unknown = await startReplay({ files: [corrupt] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ReplayError)
    expect((err as ReplayError).message).toMatch(/corrupt/)
    expect((err as ReplayError).fields).toMatchObject({ file: corrupt, fixtureCode: 'FIXTURE_CORRUPT' })
    const notFixture = join(dir.dir, 'plain.txt')
    await writeFile(notFixture, 'hello')
    await expect(startReplay({ files: [notFixture] })).rejects.toMatchObject({ code: 'REPLAY_BAD_FIXTURE' })
  })

  test('invalid options are rejected before anything starts', async () => {
    await expect(startReplay({ files: [file], window: 0 })).rejects.toMatchObject({ code: 'REPLAY_BAD_OPTION' })
    await expect(startReplay({ files: [file], rate: { mode: 'rate', eventsPerSec: 0 } })).rejects.toMatchObject({ code: 'REPLAY_BAD_OPTION' })
    await expect(startReplay({ files: [file], faults: [{ kind: 'swallow', count: -1 }] })).rejects.toMatchObject({ code: 'REPLAY_BAD_FAULT' })
  })
})

import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { decodeFrame } from '../../protocol/frame.js'
import { startReplay } from '../../replay/index.js'
import { sameBytes, seqOf, sequencedFrames, subscribe, syntheticFrames, tempDir, until, writeFixture, type Received, type TestFrame } from './helpers.js'

// --max with a small outbox (500: the timeline lets a client owe at most 250 frames).
const OUTBOX = 500

let dir: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(async () => dir.cleanup())

/** Reads one socket chunk (<= 64 KiB) every `everyMs`: slow, but never stuck. Returns a stop function. */
function readSlowly(client: Received, everyMs: number): () => void {
  const pause = (): void => client.ws.pause()
  client.ws.on('message', pause)
  pause()
  const timer = setInterval(() => client.ws.resume(), everyMs)
  return () => {
    clearInterval(timer)
    client.ws.off('message', pause)
    client.ws.resume()
  }
}

function expectConsecutiveSeqs(frames: Uint8Array[], firstSeq: number): void {
  const seqs = frames.map(seqOf)
  const firstWrong = seqs.findIndex((seq, i) => seq !== firstSeq + i)
  expect(firstWrong, `seq ${String(seqs[firstWrong])} at frame ${firstWrong}`).toBe(-1)
}

describe.each([
  // Small frames: a client drains a whole 250-frame burst synchronously inside publish.
  ['small synthetic frames', () => syntheticFrames(5_000)],
  // Real frames (~4 KB): the socket fills up and the session waits for 'drain'.
  ['real frames', () => sequencedFrames(2_000)],
])('--max --outbox 500 with a slow reader (%s)', (name, build) => {
  let frames: TestFrame[]
  let file: string
  beforeAll(async () => {
    frames = await build()
    file = join(dir.dir, `${name.replaceAll(' ', '-')}.fixture.gz`)
    await writeFixture(file, frames)
  })

  test('the timeline keeps moving to the end; the client gets every frame, byte-exact', async () => {
    // A reader that pauses between reads is not stuck (2 s is 100 times its pauses).
    const replay = await startReplay({ files: [file], rate: { mode: 'max' }, outbox: OUTBOX, stuckAfterMs: 2_000, start: 'paused' })
    try {
      const client = subscribe(replay.url)
      await client.opened
      const stop = readSlowly(client, 20)
      replay.resume()
      try {
        await client.waitFor(frames.length, 25_000)
      } catch (err) {
        throw new Error(`${(err as Error).message}; status ${JSON.stringify(replay.status())}`, { cause: err })
      } finally {
        stop()
      }
      const status = await until(replay, (s) => s.finished)
      expect(status.framesPublished).toBe(frames.length)
      expect(status.clients).toMatchObject([{ connected: true, framesSent: frames.length, closeReason: null }])
      expect(client.frames.every((bytes, i) => sameBytes(bytes, frames[i]!.bytes))).toBe(true)
      await client.close()
    } finally {
      await replay.close()
    }
  })
})

describe('--max --outbox 500 with a client that never reads', () => {
  test('the stuck client gets ConsumerTooSlow (error frame, close 1008); the others go on', async () => {
    const file = join(dir.dir, 'stuck.fixture.gz')
    await writeFixture(file, await sequencedFrames(2_000))
    // --loop: however much the kernel buffers for the stuck socket, the timeline never runs out.
    const replay = await startReplay({ files: [file], rate: { mode: 'max' }, loop: true, outbox: OUTBOX, stuckAfterMs: 300, start: 'paused' })
    try {
      const stuck = subscribe(replay.url)
      const healthy = subscribe(replay.url)
      await Promise.all([stuck.opened, healthy.opened])
      stuck.ws.pause()
      await until(replay, (s) => s.clients.filter((c) => c.connected).length === 2)
      replay.resume()

      const dropped = await until(replay, (s) => s.clients.some((c) => c.closeReason === 'ConsumerTooSlow'), 20_000)
      const [stuckStatus, healthyStatus] = dropped.clients
      expect(stuckStatus?.closeReason).toBe('ConsumerTooSlow')
      expect(healthyStatus).toMatchObject({ connected: true, closeReason: null })

      // The healthy client goes on past the point where the stuck one was dropped.
      await healthy.waitFor(dropped.framesPublished + 2_000, 20_000)
      expectConsecutiveSeqs(healthy.frames, 1)

      // Reading again, the stuck client finds its frames in order, then the error frame and the close.
      stuck.ws.resume()
      await stuck.closed
      expect(stuck.closeCode).toBe(1008)
      expect(stuck.closeReason).toBe('ConsumerTooSlow')
      const last = stuck.frames[stuck.frames.length - 1]!
      expect(decodeFrame(last)).toMatchObject({ header: { op: -1 }, body: { error: 'ConsumerTooSlow' } })
      expectConsecutiveSeqs(stuck.frames.slice(0, -1), 1)
      await healthy.close()
    } finally {
      await replay.close()
    }
  })
})

import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { decodeFrame } from '../../protocol/frame.js'
import { startReplay, type ReplayHandle, type ReplayOptions } from '../../replay/index.js'
import { sameBytes, seqOf, sequencedFrames, subscribe, tempDir, until, writeFixture, type TestFrame } from './helpers.js'

// 200 real frames re-sequenced 10, 20, ..., 2000 (gaps of 10 so cursors can fall between seqs).
let dir: Awaited<ReturnType<typeof tempDir>>
let frames: TestFrame[]
let file: string
const seqs = (list: Uint8Array[]): (number | undefined)[] => list.map(seqOf)
const expectedAfter = (cursor: number): number[] => frames.map((f) => seqOf(f.bytes)!).filter((seq) => seq > cursor)

beforeAll(async () => {
  dir = await tempDir()
  frames = await sequencedFrames(200, { firstSeq: 10, step: 10 })
  file = join(dir.dir, 'cursor.fixture.gz')
  await writeFixture(file, frames)
})
afterAll(async () => dir.cleanup())

/** A replay that has published the whole fixture before any test client connects. */
async function published(options: Partial<ReplayOptions> = {}): Promise<ReplayHandle> {
  const replay = await startReplay({ files: [file], ...options })
  await until(replay, (s) => s.finished)
  return replay
}

function errorBody(bytes: Uint8Array): { header: unknown; body: Record<string, unknown> } {
  const frame = decodeFrame(bytes)
  return { header: frame.header, body: frame.body }
}

describe('cursor semantics (PDS behaviour)', () => {
  test('no cursor joins live: only frames published after it subscribed', async () => {
    const replay = await startReplay({ files: [file], start: 'paused', rate: { mode: 'max' } })
    try {
      const client = subscribe(replay.url)
      await client.opened
      await until(replay, (s) => s.clients.length === 1)
      replay.resume()
      await client.waitFor(200)
      expect(seqs(client.frames)).toEqual(expectedAfter(0))
      expect(client.frames.every((bytes, i) => sameBytes(bytes, frames[i]!.bytes))).toBe(true)
      // A live subscriber arriving after the end gets nothing of the past, only an #info hint
      // saying so; an empty cursor (what @atproto/sync sends when it has none) means no cursor.
      const late = subscribe(replay.url, '?cursor=')
      await late.waitFor(1)
      expect(replay.status().finished).toBe(true)
      expect(late.frames).toHaveLength(1)
      const hint = decodeFrame(late.frames[0]!)
      expect(hint.header).toEqual({ op: 1, t: '#info' })
      expect(hint.body.name).toBe('ReplayFinished')
      await Promise.all([client.close(), late.close()])
    } finally {
      await replay.close()
    }
  })

  test('cursor=N: every frame with seq > N (N on a seq and between seqs), byte-for-byte', async () => {
    const replay = await published()
    try {
      for (const cursor of [1000, 1005, 10, 1990]) {
        const client = subscribe(replay.url, `?cursor=${cursor}`)
        const want = expectedAfter(cursor)
        await client.waitFor(want.length)
        expect(seqs(client.frames)).toEqual(want)
        const offset = frames.length - want.length
        expect(client.frames.every((bytes, i) => sameBytes(bytes, frames[offset + i]!.bytes))).toBe(true)
        await client.close()
      }
    } finally {
      await replay.close()
    }
  })

  test('cursor=N, then live: the backlog is followed by frames published later, no gap, no duplicate', async () => {
    const replay = await startReplay({ files: [file], rate: { mode: 'rate', eventsPerSec: 2000 } })
    try {
      await until(replay, (s) => s.framesPublished >= 50)
      const client = subscribe(replay.url, '?cursor=100')
      await client.waitFor(expectedAfter(100).length)
      expect(seqs(client.frames)).toEqual(expectedAfter(100))
      await client.close()
    } finally {
      await replay.close()
    }
  })

  test('cursor=0 and negative cursors replay the whole window', async () => {
    const replay = await published()
    try {
      for (const cursor of ['0', '-5']) {
        const client = subscribe(replay.url, `?cursor=${cursor}`)
        await client.waitFor(200)
        expect(seqs(client.frames)).toEqual(expectedAfter(0))
        await client.close()
      }
    } finally {
      await replay.close()
    }
  })

  test('cursor at the head: nothing from the past, then live', async () => {
    const replay = await published()
    try {
      const client = subscribe(replay.url, '?cursor=2000')
      await client.opened
      await until(replay, (s) => s.clients[0]?.connected === true)
      expect(client.frames).toHaveLength(0)
      expect(replay.status().clients[0]).toMatchObject({ cursorAsked: 2000, framesSent: 0, connected: true })
      await client.close()
    } finally {
      await replay.close()
    }
  })

  test('cursor older than the window: #info OutdatedCursor first, then from the oldest retained', async () => {
    const replay = await published({ window: 50 })
    try {
      for (const cursor of [100, 0]) {
        const client = subscribe(replay.url, `?cursor=${cursor}`)
        await client.waitFor(51)
        const info = decodeFrame(client.frames[0]!)
        expect(info.header).toEqual({ op: 1, t: '#info' })
        expect(info.body.name).toBe('OutdatedCursor')
        expect(seqs(client.frames.slice(1))).toEqual(expectedAfter(1500))
        await client.close()
      }
      // Inside the window: no info frame.
      const inside = subscribe(replay.url, '?cursor=1500')
      await inside.waitFor(50)
      expect(seqs(inside.frames)).toEqual(expectedAfter(1500))
      await inside.close()
    } finally {
      await replay.close()
    }
  })

  test('cursor beyond the head: error frame FutureCursor, close 1008', async () => {
    const replay = await published()
    try {
      const client = subscribe(replay.url, '?cursor=2001')
      await client.closed
      expect(client.frames).toHaveLength(1)
      expect(errorBody(client.frames[0]!)).toEqual({ header: { op: -1 }, body: { error: 'FutureCursor', message: 'Cursor in the future.' } })
      expect(client.closeCode).toBe(1008)
      expect(client.closeReason).toBe('FutureCursor')
    } finally {
      await replay.close()
    }
  })

  test('malformed cursor: error frame InvalidRequest, close 1008', async () => {
    const replay = await published()
    try {
      for (const bad of ['abc', '12abc', '1.5', '1e3']) {
        const client = subscribe(replay.url, `?cursor=${bad}`)
        await client.closed
        expect(client.frames).toHaveLength(1)
        const { header, body } = errorBody(client.frames[0]!)
        expect(header).toEqual({ op: -1 })
        expect(body.error).toBe('InvalidRequest')
        expect(client.closeCode).toBe(1008)
      }
    } finally {
      await replay.close()
    }
  })
})

describe('--relay-quirks (Go relay behaviour)', () => {
  test('future cursor silently goes live', async () => {
    const replay = await published({ relayQuirks: true })
    try {
      const client = subscribe(replay.url, '?cursor=999999')
      await client.opened
      await until(replay, (s) => s.clients[0]?.connected === true)
      expect(client.frames).toHaveLength(0)
      expect(replay.status().clients[0]?.closeCode).toBeNull()
      await client.close()
    } finally {
      await replay.close()
    }
  })

  test('malformed cursor is HTTP 400 before the upgrade', async () => {
    const replay = await published({ relayQuirks: true })
    try {
      const client = subscribe(replay.url, '?cursor=abc')
      const status = await new Promise<number>((resolve) => client.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))
      expect(status).toBe(400)
      await client.close()
      expect(replay.status().clients).toHaveLength(0)
    } finally {
      await replay.close()
    }
  })

  test('outdated cursor: no info frame, straight from the oldest retained', async () => {
    const replay = await published({ relayQuirks: true, window: 50 })
    try {
      const client = subscribe(replay.url, '?cursor=100')
      await client.waitFor(50)
      expect(seqs(client.frames)).toEqual(expectedAfter(1500))
      await client.close()
    } finally {
      await replay.close()
    }
  })
})

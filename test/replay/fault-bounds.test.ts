import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WebSocket } from 'ws'
import { MAX_PENDING_FAULTS } from '../../replay/fault-scheduler.js'
import { FAULT_LIMITS, parseFaultFlag, parseFaultSpec } from '../../replay/faults.js'
import { REPLAY_FINISHED_INFO } from '../../replay/hub.js'
import { startReplay, type ReplayHandle } from '../../replay/index.js'
import { decodeEvent } from '../../protocol/events.js'
import { runCli } from '../support/cli.js'
import { seqOf, sequencedFrames, subscribe, tempDir, until, writeFixture } from './helpers.js'

const SEED = 8080
let dir: Awaited<ReturnType<typeof tempDir>>
let file: string
beforeAll(async () => {
  dir = await tempDir()
  file = join(dir.dir, 'bounds.fixture.gz')
  await writeFixture(file, await sequencedFrames(100))
})
afterAll(async () => dir.cleanup())

async function postFault(replay: ReplayHandle, body: unknown): Promise<{ status: number; json: { error?: string; message?: string; injected?: number } }> {
  const response = await fetch(`${replay.httpUrl}/_replay/fault`, { method: 'POST', body: JSON.stringify(body) })
  return { status: response.status, json: (await response.json()) as { error?: string; message?: string } }
}

describe('fault parameter bounds', () => {
  // Every numeric parameter: its maximum is accepted, one more is refused with a reason naming the range.
  const cases: [kind: string, field: string, max: number][] = [
    ['garbage', 'count', FAULT_LIMITS.count],
    ['garbage', 'bytes', FAULT_LIMITS.bytes],
    ['truncate', 'count', FAULT_LIMITS.count],
    ['truncate', 'bytes', FAULT_LIMITS.bytes],
    ['duplicate', 'count', FAULT_LIMITS.count],
    ['swallow', 'count', FAULT_LIMITS.count],
    ['regress', 'count', FAULT_LIMITS.count],
    ['regress', 'by', FAULT_LIMITS.by],
    ['refuse-handshake', 'count', FAULT_LIMITS.count],
    ['refuse-handshake', 'retryAfterSec', FAULT_LIMITS.retryAfterSec],
    ['oversize', 'bytes', FAULT_LIMITS.oversizeBytes],
    ['stall', 'durationMs', FAULT_LIMITS.durationMs],
    ['drop', 'client', FAULT_LIMITS.client],
    ['drop', 'afterMs', FAULT_LIMITS.durationMs],
  ]
  test.each(cases)('%s %s: max %d accepted, max + 1 refused', (kind, field, max) => {
    expect(parseFaultSpec({ kind, [field]: max })).toMatchObject({ [field]: max })
    expect(() => parseFaultSpec({ kind, [field]: max + 1 })).toThrow(new RegExp(`invalid fault: ${field} must be an integer in \\[\\d+, ${max}\\]`))
  })

  test('strings sent as a WebSocket close reason fit in 123 bytes; a range must lie within the bound', () => {
    expect(() => parseFaultSpec({ kind: 'close', reason: 'x'.repeat(124) })).toThrow(/123 UTF-8 bytes/)
    expect(() => parseFaultSpec({ kind: 'error-frame', error: 'é'.repeat(62) })).toThrow(/123 UTF-8 bytes/)
    expect(parseFaultSpec({ kind: 'close', reason: 'x'.repeat(123) })).toMatchObject({ kind: 'close' })
    expect(() => parseFaultSpec({ kind: 'drop', afterMs: [0, FAULT_LIMITS.durationMs + 1] })).toThrow(/afterMs must be an integer in \[0, 3600000\]/)
    expect(() => parseFaultFlag('garbage:count=1e9')).toThrow(/count must be an integer in \[1, 100000\], got "1e9"/)
    expect(() => parseFaultFlag('garbage:count=1000000000')).toThrow(/count must be an integer in \[1, 100000\], got 1000000000/)
  })

  test('POST garbage count 1e9 is a quick 400 with the reason; the server keeps serving', async () => {
    const replay = await startReplay({ files: [file], start: 'first-client', seed: SEED })
    try {
      const client = subscribe(replay.url)
      await client.waitFor(100)
      const rssBefore = process.memoryUsage().rss
      const { status, json } = await postFault(replay, { kind: 'garbage', count: 1e9 })
      expect(status).toBe(400)
      expect(replay.status().clients[0]!.faults).toEqual([]) // refused before any of it was made
      expect(json).toEqual({ error: 'REPLAY_BAD_FAULT', message: 'invalid fault: count must be an integer in [1, 100000], got 1000000000' })
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(50 * 1024 * 1024)
      expect((await postFault(replay, { kind: 'garbage', count: 3, bytes: 10 })).status).toBe(200)
      await client.waitFor(103)
      await client.close()
    } finally {
      await replay.close()
    }
  })

  test('rates are bounded too: POST /_replay/rate out of range is a 400 with the range', async () => {
    const replay = await startReplay({ files: [file], start: 'paused', seed: SEED })
    try {
      const post = async (body: unknown): Promise<{ status: number; message: string }> => {
        const response = await fetch(`${replay.httpUrl}/_replay/rate`, { method: 'POST', body: JSON.stringify(body) })
        return { status: response.status, message: ((await response.json()) as { message: string }).message }
      }
      expect(await post({ mode: 'speed', multiplier: 1e9 })).toEqual({ status: 400, message: 'invalid rate: multiplier must be a number in [0.001, 1000000]' })
      expect((await post({ mode: 'speed', multiplier: 1e-9 })).status).toBe(400)
      expect((await post({ mode: 'rate', eventsPerSec: 1e9 })).status).toBe(400)
      expect((await post({ mode: 'speed', multiplier: 1_000_000 })).status).toBe(200)
    } finally {
      await replay.close()
    }
  })

  test(`at most ${MAX_PENDING_FAULTS} faults pending; a batch that does not fit is refused whole`, async () => {
    const replay = await startReplay({ files: [file], start: 'paused', seed: SEED })
    try {
      const batch = (n: number): unknown[] => Array.from({ length: n }, () => ({ kind: 'drop', afterMs: FAULT_LIMITS.durationMs }))
      for (let i = 0; i < 5; i++) expect((await postFault(replay, batch(1_900))).json.injected).toBe(1_900)
      const refused = await postFault(replay, batch(1_000))
      expect(refused.status).toBe(400)
      expect(refused.json.message).toBe(`invalid fault: 9500 faults are pending and at most ${MAX_PENDING_FAULTS} may be`)
      // Nothing of the refused batch was added: exactly 500 still fit.
      expect((await postFault(replay, batch(500))).status).toBe(200)
      expect((await postFault(replay, batch(1))).status).toBe(400)
    } finally {
      await replay.close()
    }
  })

  test('garbage at the maximum count goes out with backpressure: a client that does not read costs one send buffer, one that reads gets it all', async () => {
    const count = FAULT_LIMITS.count
    const bytes = 64 * 1024 // 6.5 GB in all, if it were buffered
    const replay = await startReplay({ files: [file], start: 'first-client', seed: SEED, faults: [{ kind: 'garbage', atFrame: 50, count, bytes, client: 1 }] })
    const stuck = new WebSocket(replay.url)
    try {
      await new Promise((resolve) => stuck.once('open', resolve))
      stuck.pause() // never reads: its kernel buffers fill and the server must stop producing
      const rssBefore = process.memoryUsage().rss
      // Blocked: the session waits for a drain the client never causes, and sent nothing between two looks.
      let lastSent = -1
      const blocked = await until(replay, ({ clients: [client] }) => {
        const settled = client !== undefined && client.waitingForDrain && client.framesSent > 50 && client.framesSent === lastSent
        lastSent = client?.framesSent ?? -1
        return settled
      })
      expect(blocked.clients[0]!.framesSent).toBeLessThan(1_000) // ~512 KiB of send buffer plus what the kernels hold, not 100,000 messages
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024)

      // A reading client gets every garbage message after the frames it had.
      const reader = subscribe(replay.url, '?cursor=0')
      await reader.waitFor(100)
      replay.injectFault({ kind: 'garbage', count: 10_000, bytes: 8, client: 2 })
      await reader.waitFor(100 + 10_000)
      expect(reader.frames.slice(0, 100).map(seqOf)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
      expect(reader.frames.slice(100).every((message) => message.byteLength === 8)).toBe(true)
      await reader.close()
    } finally {
      stuck.terminate()
      await replay.close()
    }
  })

  test('CLI: an out-of-range --fault exits 2 with a one-line reason', async () => {
    const { code, stderr } = await runCli(['replay', file, '--fault', 'garbage:count=1000000000'], { env: { FIREHOSE_LOG_LEVEL: 'warn' } })
    expect(code).toBe(2)
    expect(stderr).toContain('count must be an integer in [1, 100000], got 1000000000')
  })
})

describe('a replay that finished before the client connected', () => {
  test('a live client gets a ReplayFinished #info frame with the way out, and the server logs it; cursor=0 still gets the window', async () => {
    const lines: { msg: string; client?: number }[] = []
    const { pino } = await import('pino')
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) })
    const replay = await startReplay({ files: [file], start: 'now', seed: SEED, logger })
    try {
      await until(replay, (s) => s.finished)
      const late = subscribe(replay.url)
      await late.waitFor(1)
      const info = decodeEvent(late.frames[0]!)
      expect(info).toMatchObject({ type: 'info', name: REPLAY_FINISHED_INFO })
      expect(info.type === 'info' && info.message).toMatch(/all 100 frames were published before this client connected.*cursor=0.*--start first-client or --loop/)
      expect(lines.some((line) => line.client === 1 && line.msg.startsWith('replay finished: all 100 frames'))).toBe(true)
      const fromZero = subscribe(replay.url, '?cursor=0')
      await fromZero.waitFor(100)
      expect(fromZero.frames.map(seqOf)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
      await Promise.all([late.close(), fromZero.close()])
    } finally {
      await replay.close()
    }
  })
})

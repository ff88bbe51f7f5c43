import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startReplay, type ReplayHandle } from '../../replay/index.js'
import { subscribe, syntheticFrames, tempDir, until, writeFixture } from './helpers.js'

let dir: Awaited<ReturnType<typeof tempDir>>
let bulk: string // 25k frames, 1 ms apart in recorded time
beforeAll(async () => {
  dir = await tempDir()
  bulk = join(dir.dir, 'bulk.fixture.gz')
  await writeFixture(bulk, syntheticFrames(25_000, 1, 1_000))
})
afterAll(async () => dir.cleanup())

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Frames per second delivered to a live client over `windowMs`, after a warm-up. */
async function measure(replay: ReplayHandle, windowMs: number): Promise<number> {
  const client = subscribe(replay.url)
  await client.opened
  await sleep(300)
  const startCount = client.frames.length
  const startMs = performance.now()
  await sleep(windowMs)
  const count = client.frames.length - startCount
  const elapsed = performance.now() - startMs
  await client.close()
  return (count * 1000) / elapsed
}

describe('rate accuracy, measured over a window (not per event)', () => {
  for (const eventsPerSec of [1_000, 5_000]) {
    test(`token bucket at ${eventsPerSec}/s: within 3% over 3 s`, async () => {
      const replay = await startReplay({ files: [bulk], rate: { mode: 'rate', eventsPerSec } })
      try {
        const achieved = await measure(replay, 3_000)
        expect(Math.abs(achieved - eventsPerSec) / eventsPerSec).toBeLessThan(0.03)
        expect(Math.abs(replay.status().achievedEventsPerSec - eventsPerSec) / eventsPerSec).toBeLessThan(0.05)
      } finally {
        await replay.close()
      }
    })
  }

  test('speed multiplier on recorded times: 1 ms gaps at 2x = 2000/s; original = 1000/s', async () => {
    for (const [rate, expected] of [
      [{ mode: 'speed', multiplier: 2 }, 2_000],
      [{ mode: 'original' }, 1_000],
    ] as const) {
      const replay = await startReplay({ files: [bulk], rate })
      try {
        const achieved = await measure(replay, 2_000)
        expect(Math.abs(achieved - expected) / expected, `${JSON.stringify(rate)}: ${achieved}/s`).toBeLessThan(0.05)
      } finally {
        await replay.close()
      }
    }
  })
})

describe('run-time control over HTTP', () => {
  test('pause stops publishing, resume continues, rate changes take effect', async () => {
    const replay = await startReplay({ files: [bulk], rate: { mode: 'rate', eventsPerSec: 500 } })
    const post = (path: string, body?: unknown): Promise<Response> =>
      fetch(`${replay.httpUrl}/_replay/${path}`, { method: 'POST', body: body === undefined ? '' : JSON.stringify(body) })
    try {
      await until(replay, (s) => s.framesPublished > 50)
      expect((await post('pause')).status).toBe(200)
      const paused = replay.status()
      expect(paused.paused).toBe(true)
      await sleep(200)
      expect(replay.status().framesPublished).toBe(paused.framesPublished)

      expect((await post('rate', { mode: 'rate', eventsPerSec: 4000 })).status).toBe(200)
      expect((await post('resume')).status).toBe(200)
      const status = (await (await fetch(`${replay.httpUrl}/_replay/status`)).json()) as { paused: boolean; rate: unknown }
      expect(status).toMatchObject({ paused: false, rate: { mode: 'rate', eventsPerSec: 4000 } })
      const achieved = await measure(replay, 1_500)
      expect(Math.abs(achieved - 4000) / 4000).toBeLessThan(0.05)

      const bad = await post('rate', { mode: 'rate', eventsPerSec: -1 })
      expect(bad.status).toBe(400)
      expect((await fetch(`${replay.httpUrl}/_replay/nope`)).status).toBe(404)
      expect((await fetch(`${replay.httpUrl}/_replay/pause`)).status).toBe(405)
    } finally {
      await replay.close()
    }
  })

  test('--start paused publishes nothing until resumed', async () => {
    const replay = await startReplay({ files: [bulk], start: 'paused' })
    try {
      await sleep(100)
      expect(replay.status()).toMatchObject({ paused: true, framesPublished: 0 })
      replay.resume()
      await until(replay, (s) => s.framesPublished > 0)
    } finally {
      await replay.close()
    }
  })
})

import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ioTurns, waitUntil } from '../../harness/wait.js'
import { startReplay, type ReplayHandle, type ReplayRate } from '../../replay/index.js'
import { FakeTimers } from '../support/fake-timers.js'
import { subscribe, syntheticFrames, tempDir, until, writeFixture, type Received } from './helpers.js'

let dir: Awaited<ReturnType<typeof tempDir>>
let bulk: string // 25k frames, 1 ms apart in recorded time
beforeAll(async () => {
  dir = await tempDir()
  bulk = join(dir.dir, 'bulk.fixture.gz')
  await writeFixture(bulk, syntheticFrames(25_000, 1, 1_000))
})
afterAll(async () => dir.cleanup())

const WAIT = { timeoutMs: 10_000, intervalMs: 5 }

/**
 * A replay of `bulk` paced by fake timers, with one live subscriber that gets every frame (the
 * timeline starts when it subscribes), returned once the timeline waits for fake time to pass.
 */
async function pacedReplay(rate: ReplayRate): Promise<{ replay: ReplayHandle; timers: FakeTimers; client: Received }> {
  const timers = new FakeTimers()
  const replay = await startReplay({ files: [bulk], rate, start: 'first-client', pacingTimers: timers })
  const client = subscribe(replay.url)
  await client.opened
  // Its first tick runs on the event loop at fake time 0; then it sleeps on a fake timer.
  await waitUntil(() => timers.pendingCount > 0, { what: 'the timeline to wait for its next tick', ...WAIT })
  return { replay, timers, client }
}

/** Every frame published reaches the live client, and no more. */
async function expectDelivered(replay: ReplayHandle, client: Received): Promise<void> {
  const published = replay.status().framesPublished
  await client.waitFor(published)
  await ioTurns()
  expect(client.frames.length).toBe(published)
}

describe('rate accuracy, counted in fake time (not per event)', () => {
  for (const eventsPerSec of [1_000, 5_000]) {
    test(`token bucket at ${eventsPerSec}/s: no burst at the start, then exactly ${eventsPerSec} frames per second`, async () => {
      const { replay, timers, client } = await pacedReplay({ mode: 'rate', eventsPerSec })
      try {
        expect(replay.status().framesPublished).toBe(0) // the bucket starts empty
        timers.advance(1_000)
        expect(replay.status().framesPublished).toBe(eventsPerSec)
        timers.advance(2_000)
        expect(replay.status()).toMatchObject({ framesPublished: 3 * eventsPerSec, achievedEventsPerSec: eventsPerSec })
        await expectDelivered(replay, client)
      } finally {
        await client.close()
        await replay.close()
      }
    })
  }

  test('speed multiplier on recorded times: 1 ms gaps at 2x = 2000/s; original = 1000/s', async () => {
    for (const [rate, expected] of [
      [{ mode: 'speed', multiplier: 2 }, 2_000],
      [{ mode: 'original' }, 1_000],
    ] as const) {
      const { replay, timers, client } = await pacedReplay(rate)
      try {
        // The first frame is due at once (it anchors the recorded clock); the next ones by their recorded gaps.
        expect(replay.status().framesPublished, JSON.stringify(rate)).toBe(1)
        timers.advance(2_000)
        expect(replay.status().framesPublished - 1, JSON.stringify(rate)).toBe(2 * expected)
        await expectDelivered(replay, client)
      } finally {
        await client.close()
        await replay.close()
      }
    }
  })

  test('with the default clock, rate mode publishes to a client (smoke test: no timing asserted)', async () => {
    const replay = await startReplay({ files: [bulk], rate: { mode: 'rate', eventsPerSec: 2_000 }, start: 'first-client' })
    const client = subscribe(replay.url)
    try {
      await client.waitFor(100)
      expect(replay.status().framesPublished).toBeGreaterThanOrEqual(100)
    } finally {
      await client.close()
      await replay.close()
    }
  })
})

describe('run-time control over HTTP', () => {
  test('pause stops publishing, resume continues without a catch-up burst, rate changes take effect', async () => {
    const { replay, timers, client } = await pacedReplay({ mode: 'rate', eventsPerSec: 500 })
    const post = (path: string, body?: unknown): Promise<Response> => fetch(`${replay.httpUrl}/_replay/${path}`, { method: 'POST', body: body === undefined ? '' : JSON.stringify(body) })
    try {
      timers.advance(200)
      expect(replay.status().framesPublished).toBe(100)
      expect((await post('pause')).status).toBe(200)
      expect(replay.status().paused).toBe(true)
      timers.advance(1_000)
      expect(replay.status().framesPublished).toBe(100)
      expect(timers.pendingCount).toBe(0) // a paused timeline sleeps on nothing

      expect((await post('resume')).status).toBe(200)
      await waitUntil(() => timers.pendingCount > 0, { what: 'the resumed timeline to wait for its next tick', ...WAIT })
      expect(replay.status().framesPublished).toBe(100) // the paused second is not paid back as a burst
      timers.advance(200)
      expect(replay.status().framesPublished).toBe(200)

      expect((await post('rate', { mode: 'rate', eventsPerSec: 4000 })).status).toBe(200)
      const status = (await (await fetch(`${replay.httpUrl}/_replay/status`)).json()) as { paused: boolean; rate: unknown }
      expect(status).toMatchObject({ paused: false, rate: { mode: 'rate', eventsPerSec: 4000 } })
      await waitUntil(() => timers.pendingCount > 0, { what: 'the timeline to wait for its next tick at the new rate', ...WAIT })
      timers.advance(1_000)
      expect(replay.status().framesPublished).toBe(200 + 4000)
      await expectDelivered(replay, client)

      const bad = await post('rate', { mode: 'rate', eventsPerSec: -1 })
      expect(bad.status).toBe(400)
      expect((await fetch(`${replay.httpUrl}/_replay/nope`)).status).toBe(404)
      expect((await fetch(`${replay.httpUrl}/_replay/pause`)).status).toBe(405)
    } finally {
      await client.close()
      await replay.close()
    }
  })

  test('--start paused publishes nothing until resumed', async () => {
    const replay = await startReplay({ files: [bulk], start: 'paused' })
    try {
      // A running timeline at max rate publishes on its first turn of the event loop.
      await ioTurns()
      expect(replay.status()).toMatchObject({ paused: true, framesPublished: 0 })
      replay.resume()
      await until(replay, (s) => s.framesPublished > 0)
    } finally {
      await replay.close()
    }
  })
})

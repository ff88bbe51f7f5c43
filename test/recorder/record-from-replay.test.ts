import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { waitUntil } from '../../harness/wait.js'
import { pino } from 'pino'
import { inspectFixture } from '../../fixture-file/index.js'
import { peekFrame } from '../../protocol/peek.js'
import { startRecorder } from '../../recorder/index.js'
import { WAITING_LOG_INTERVAL_MS } from '../../recorder/waiting-log.js'
import { startReplay, type FaultSpec, type ReplayHandle } from '../../replay/index.js'
import { FakeTimers } from '../support/fake-timers.js'
import { firstDifference, readFixture, sequencedFrames, writeFixture } from './source-frames.js'

const seed = Number(process.env.TEST_SEED ?? SeededRandom.freshSeed())
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** The recorder and the replay run at real speed; the describe title carries the seed. */
const WAIT = { timeoutMs: 20_000, intervalMs: 5 }

/** A temp dir (removed after the test) holding `frames` as the source fixture. */
async function sourceFixture(frames: Uint8Array[]): Promise<{ dir: string; sourcePath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'record-replay-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const sourcePath = join(dir, 'source.fixture.gz')
  await writeFixture(sourcePath, frames)
  return { dir, sourcePath }
}

/** A recording's frames after its first, the relay's #info. */
function framesAfterInfo(recording: Awaited<ReturnType<typeof readFixture>>): Uint8Array[] {
  return recording.frames.slice(1).map((frame) => frame.bytes)
}

/** A replay of the source fixture, closed after the test. */
async function replayOf(sourcePath: string, options: Omit<Parameters<typeof startReplay>[0], 'files' | 'seed'>): Promise<ReplayHandle> {
  const replay = await startReplay({ files: [sourcePath], seed, ...options })
  cleanups.push(() => replay.close())
  return replay
}

describe(`recording from the replay server (seed ${seed})`, () => {
  it('through drop, clean close, stall and a refused handshake, the recording equals the source fixture byte-for-byte', async () => {
    // 3 s of timeline at 1000/s: the faults below all land well before it ends.
    const source = sequencedFrames(3000, 5000)
    const { dir, sourcePath } = await sourceFixture(source)
    const random = new SeededRandom(seed)
    const replay = await replayOf(sourcePath, { rate: { mode: 'rate', eventsPerSec: 1000 }, start: 'first-client' })
    const out = join(dir, 'recorded.fixture.gz')
    const handle = await startRecorder({
      relay: replay.url,
      out,
      relayClient: { stallTimeoutMs: 500, pingIntervalMs: 100, backoff: { initialMs: 5, maxMs: 20 }, random: new SeededRandom(seed) },
    })
    // Faults injected at run time once the recording has reached a (seeded) point, so each one
    // hits the connection that is live at that moment.
    const plan: { afterFrames: number; faults: FaultSpec[]; reconnects: number }[] = [
      { afterFrames: random.int(100, 400), faults: [{ kind: 'drop' }], reconnects: 1 },
      { afterFrames: random.int(500, 800), faults: [{ kind: 'close', code: 1011, reason: 'restarting' }], reconnects: 2 },
      { afterFrames: random.int(900, 1200), faults: [{ kind: 'stall', durationMs: 5000 }], reconnects: 3 },
      {
        afterFrames: random.int(1300, 1600),
        faults: [{ kind: 'refuse-handshake', count: 1, status: 503, retryAfterSec: 1 }, { kind: 'drop' }],
        reconnects: 5, // the refused attempt counts too
      },
    ]
    for (const [i, step] of plan.entries()) {
      // A fault hits the connections live when it is injected: wait for the replay to hold connection i, not just
      // for the recorder to count a reconnect (it counts one as soon as it starts connecting).
      await waitUntil(() => handle.status().frames >= step.afterFrames && replay.status().clients[i]?.connected === true, {
        what: `${step.afterFrames} frames and connection ${i + 1} live`,
        ...WAIT,
      })
      for (const fault of step.faults) replay.injectFault(fault)
      await waitUntil(() => handle.status().reconnects >= step.reconnects, { what: `reconnect ${step.reconnects}`, ...WAIT })
    }
    const faults = plan.flatMap((step) => step.faults.map((fault) => ({ ...fault, afterFrames: step.afterFrames })))
    await waitUntil(() => handle.status().currentSeq === 7999, { what: 'the last seq', ...WAIT })
    const summary = await handle.stop()
    const status = replay.status()
    const context = `seed ${seed}, faults ${JSON.stringify(faults)}, clients ${JSON.stringify(status.clients.map((c) => [c.cursorAsked, c.framesSent, c.faults]))}`
    const back = await readFixture(out)
    expect(
      firstDifference(
        back.frames.map((f) => f.bytes),
        source,
      ),
      context,
    ).toBe(-1)
    expect(back.manifest, context).toMatchObject({ complete: true, frameCount: 3000, firstSeq: 5000, lastSeq: 7999, gaps: [] })
    // Every fault hit the recorder: 4 dropped/closed/stalled connections, 1 refused handshake.
    expect(status.clients.length, context).toBe(5)
    expect(status.handshakesRefused, context).toHaveLength(1)
    expect(summary.reconnects, context).toBe(5)
    expect(
      status.clients.map((c) => c.faults.map((f) => f.kind)),
      context,
    ).toEqual([['drop'], ['close'], ['stall'], ['drop'], []])
    expect(status.clients[0]!.cursorAsked).toBeNull()
    for (const client of status.clients.slice(1)) expect(client.cursorAsked, context).toBeGreaterThanOrEqual(5000)
  })
  it('reports the gap when the relay no longer holds the cursor (#info OutdatedCursor), recording the info frame too', async () => {
    const source = sequencedFrames(1000, 1)
    const { dir, sourcePath } = await sourceFixture(source)
    const replay = await replayOf(sourcePath, { rate: { mode: 'max' }, start: 'now', window: 300 })
    await waitUntil(() => replay.status().finished, { what: 'the timeline to publish everything', ...WAIT })
    const out = join(dir, 'outdated.fixture.gz')
    const handle = await startRecorder({ relay: replay.url, out, cursor: 100, limit: 301 })
    const summary = await handle.done
    const back = await readFixture(out)
    expect(back.manifest?.gaps).toEqual([{ afterSeq: 100, beforeSeq: 701, note: expect.stringContaining('OutdatedCursor') }])
    expect(summary.continuity.outdatedCursor).toBe(1)
    expect(back.manifest?.countsByType['#info']).toBe(1)
    expect(firstDifference(framesAfterInfo(back), source.slice(700))).toBe(-1)
  })
  it('records error frames too: ConsumerTooSlow is kept and the recording resumes after it without a gap', async () => {
    const source = sequencedFrames(800, 1)
    const { dir, sourcePath } = await sourceFixture(source)
    const replay = await replayOf(sourcePath, { rate: { mode: 'rate', eventsPerSec: 1000 }, start: 'first-client' })
    const out = join(dir, 'errors.fixture.gz')
    const handle = await startRecorder({ relay: replay.url, out, limit: source.length + 1, relayClient: { backoff: { initialMs: 5, maxMs: 20 } } })
    const at = new SeededRandom(seed).int(100, 500)
    await waitUntil(() => handle.status().frames >= at, { what: `${at} frames`, ...WAIT })
    replay.injectFault({ kind: 'error-frame', error: 'ConsumerTooSlow', message: 'too slow' })
    const summary = await handle.done
    const back = await readFixture(out)
    const types = back.frames.map((f) => (peekFrame(f.bytes).op === -1 ? 'error' : 'message'))
    expect(types.filter((t) => t === 'error')).toHaveLength(1)
    expect(summary.continuity.errorFrames).toEqual({ ConsumerTooSlow: 1 })
    expect(summary.reconnects).toBe(1)
    expect(back.manifest?.gaps).toEqual([])
    const errorAt = types.indexOf('error')
    expect(errorAt).toBe(replay.status().clients[0]!.framesSent - 1)
    const withoutError = back.frames.filter((_, i) => i !== errorAt).map((f) => f.bytes)
    expect(firstDifference(withoutError, source), `seed ${seed}`).toBe(-1)
  })

  it('after FutureCursor, keeps the error frame and goes live instead of retrying the refused cursor forever', async () => {
    const { dir, sourcePath } = await sourceFixture(sequencedFrames(50, 1))
    const replay = await replayOf(sourcePath, { rate: { mode: 'max' }, start: 'now' })
    await waitUntil(() => replay.status().finished, { what: 'the timeline to publish everything', ...WAIT })
    const out = join(dir, 'future.fixture.gz')
    const handle = await startRecorder({ relay: replay.url, out, cursor: 5000, relayClient: { backoff: { initialMs: 5, maxMs: 20 } } })
    await waitUntil(() => replay.status().clients.length === 2 && replay.status().clients[1]!.connected, { what: 'the live reconnect', ...WAIT })
    await waitUntil(() => handle.status().frames === 2, { what: 'the ReplayFinished hint on the live connection', ...WAIT })
    const summary = await handle.stop()
    expect(replay.status().clients.map((c) => c.cursorAsked)).toEqual([5000, null])
    expect(summary.continuity.errorFrames).toEqual({ FutureCursor: 1 })
    const back = await readFixture(out)
    // ...and, live on a finished replay, the replay's ReplayFinished hint (docs/replay.md).
    expect(back.manifest?.countsByType).toEqual({ error: 1, '#info': 1 })
  })

  it('--cursor 0 records from the start of the relay without a gap, also when the relay says OutdatedCursor', async () => {
    // Seqs as a real relay's: far above 0.
    const source = sequencedFrames(400, 20_000_000_001)
    const { dir, sourcePath } = await sourceFixture(source)
    const whole = await replayOf(sourcePath, { rate: { mode: 'max' }, start: 'now' })
    // A window of 100 frames: the first 300 are evicted, so cursor 0 gets #info OutdatedCursor first.
    const evicting = await replayOf(sourcePath, { rate: { mode: 'max' }, start: 'now', window: 100 })
    await waitUntil(() => whole.status().finished && evicting.status().finished, { what: 'both timelines to publish everything', ...WAIT })

    const out = join(dir, 'from-zero.fixture.gz')
    const summary = await (await startRecorder({ relay: whole.url, out, cursor: 0, limit: 400 })).done
    expect(summary).toMatchObject({ gaps: 0, firstSeq: 20_000_000_001, currentSeq: 20_000_000_400 })
    const back = await readFixture(out)
    expect(back.manifest).toMatchObject({ gaps: [], firstSeq: 20_000_000_001, lastSeq: 20_000_000_400 })
    expect(
      firstDifference(
        back.frames.map((f) => f.bytes),
        source,
      ),
    ).toBe(-1)
    expect((await inspectFixture(out)).reportedGaps).toEqual([])

    const evictedOut = join(dir, 'from-zero-evicted.fixture.gz')
    const evicted = await (await startRecorder({ relay: evicting.url, out: evictedOut, cursor: 0, limit: 101 })).done
    expect(evicted).toMatchObject({ gaps: 0, firstSeq: 20_000_000_301, continuity: { outdatedCursor: 1 } })
    const evictedBack = await readFixture(evictedOut)
    expect(evictedBack.manifest).toMatchObject({ gaps: [], countsByType: { '#info': 1 } })
    expect(firstDifference(framesAfterInfo(evictedBack), source.slice(300))).toBe(-1)
  })

  it('on a finished replay, logs its ReplayFinished info, then every 10 s (fake clock) how many of --limit it still waits for', async () => {
    const { dir, sourcePath } = await sourceFixture(sequencedFrames(50, 1))
    const replay = await replayOf(sourcePath, { rate: { mode: 'max' }, start: 'now' })
    await waitUntil(() => replay.status().finished, { what: 'the timeline to publish everything', ...WAIT })
    // Raw lines: JSON.parse would hide a key written twice.
    const raw: string[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void raw.push(line) })
    const lines = (): { msg: string; [key: string]: unknown }[] => raw.map((line) => JSON.parse(line) as { msg: string })
    const timers = new FakeTimers()
    const handle = await startRecorder({ relay: replay.url, out: join(dir, 'finished.fixture.gz'), limit: 500, logger, timers })
    cleanups.push(() => void handle.stop())
    await waitUntil(() => lines().some((line) => line.msg === 'relay info frame'), { what: 'the ReplayFinished info line', ...WAIT })
    expect(lines().find((line) => line.msg === 'relay info frame')).toMatchObject({ component: 'recorder', info: 'ReplayFinished', message: expect.stringContaining('cursor=0') })
    const waiting = (): { msg: string; [key: string]: unknown }[] => lines().filter((line) => line.msg.startsWith('nothing recorded'))
    timers.advance(WAITING_LOG_INTERVAL_MS - 1)
    expect(waiting()).toEqual([])
    timers.advance(1)
    expect(waiting()).toEqual([expect.objectContaining({ msg: 'nothing recorded for 10 s: still waiting for 499 of 500 frames', recorded: 1, limit: 500, idleMs: 10_000, connected: true, cursor: null })])
    // One line per interval, however long nothing comes.
    timers.advance(6 * WAITING_LOG_INTERVAL_MS)
    expect(waiting().map((line) => line.msg)).toEqual([10, 20, 30, 40, 50, 60, 70].map((s) => `nothing recorded for ${s} s: still waiting for 499 of 500 frames`))
    const summary = await handle.stop()
    expect(summary.frames).toBe(1)
    timers.advance(6 * WAITING_LOG_INTERVAL_MS)
    expect(waiting()).toHaveLength(7)
    expect(timers.pendingCount).toBe(0)
    // Each line names one component, the relay client's included.
    const connected = raw.find((line) => line.includes('"relay connected"'))!
    expect(connected.match(/"component"/g)).toEqual(['"component"'])
    expect(JSON.parse(connected)).toMatchObject({ component: 'relay-client' })
    for (const line of raw) expect(line.match(/"component"/g)?.length ?? 0, line).toBeLessThanOrEqual(1)
  })
})

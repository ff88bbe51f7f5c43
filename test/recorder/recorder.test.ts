import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { waitUntil } from '../../harness/wait.js'
import { peekFrame } from '../../protocol/peek.js'
import { rotatedPath, startRecorder, type RecorderOptions } from '../../recorder/index.js'
import { OUTDATED_CURSOR_FRAME, startMiniRelay, type MiniRelayOptions } from './mini-relay.js'
import { firstDifference, readFixture, sequencedFrames } from './source-frames.js'

const seed = Number(process.env.TEST_SEED ?? SeededRandom.freshSeed())
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'recorder-test-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function relay(options: MiniRelayOptions): Promise<Awaited<ReturnType<typeof startMiniRelay>>> {
  const r = await startMiniRelay(options)
  cleanups.push(() => r.close())
  return r
}

/** Fast reconnects, seeded jitter. */
function recorderOptions(options: RecorderOptions): RecorderOptions {
  return { relayClient: { backoff: { initialMs: 5, maxMs: 20 }, random: new SeededRandom(seed) }, ...options }
}

const seqOf = (bytes: Uint8Array): number | undefined => peekFrame(bytes).seq

describe(`recorder (seed ${seed})`, () => {
  it('records every frame byte-for-byte through abrupt disconnects, resuming from the last recorded seq', async () => {
    const source = sequencedFrames(1500, 1000)
    const random = new SeededRandom(seed)
    const drops = [random.int(50, 400), random.int(50, 400), random.int(50, 400)]
    const r = await relay({ frames: source, dropAfter: (i) => drops[i] ?? null })
    const out = join(tempDir(), 'rec.fixture.gz')
    const handle = await startRecorder(recorderOptions({ relay: r.url, out, limit: source.length }))
    const summary = await handle.done
    expect(summary.stopReason).toBe('limit')
    expect(summary.reconnects, `drops ${drops.join(',')}`).toBe(3)
    // Each reconnect asked for the seq after the last recorded frame (a prefix of the source).
    for (const cursor of r.cursors.slice(1)) expect(cursor, `cursors ${r.cursors.join(',')}`).toBeGreaterThanOrEqual(1000)
    expect(r.cursors[0]).toBeNull()
    const back = await readFixture(out)
    const diff = firstDifference(
      back.frames.map((f) => f.bytes),
      source,
    )
    expect(diff, `seed ${seed}, drops ${drops.join(',')}: first difference at frame ${diff}`).toBe(-1)
    expect(back.truncated).toBe(false)
    expect(back.manifest).toMatchObject({ complete: true, frameCount: 1500, firstSeq: 1000, lastSeq: 2499, gaps: [] })
    expect(back.header.source).toBe(r.url)
    // Receive times are real and in order.
    for (let i = 1; i < back.frames.length; i++) expect(back.frames[i]!.timeUs).toBeGreaterThanOrEqual(back.frames[i - 1]!.timeUs)
    expect(summary.continuity.duplicatesSkipped).toBe(0)
  })

  it('does not record twice what a relay replays at the cursor itself (seq == cursor)', async () => {
    const source = sequencedFrames(300, 1)
    const r = await relay({ frames: source, dropAfter: (i) => (i < 2 ? 100 : null), inclusiveCursor: true })
    const out = join(tempDir(), 'rec.fixture')
    const summary = await (await startRecorder(recorderOptions({ relay: r.url, out, limit: source.length }))).done
    expect(
      firstDifference(
        (await readFixture(out)).frames.map((f) => f.bytes),
        source,
      ),
    ).toBe(-1)
    expect(summary.continuity.duplicatesSkipped).toBe(2)
    expect(summary.gaps).toBe(0)
  })

  it('reports a gap it could not fill (OutdatedCursor after a reconnect) in the log and the manifest', async () => {
    const source = sequencedFrames(600, 1)
    // Connection 0 drops after 100 frames; by then the relay only keeps seq >= 400.
    const r = await relay({ frames: source, dropAfter: (i) => (i === 0 ? 100 : null), oldestSeq: (i) => (i === 0 ? 1 : 400) })
    const out = join(tempDir(), 'rec.fixture.gz')
    const logs: string[] = []
    const { pino } = await import('pino')
    const logger = pino({ level: 'warn' }, { write: (line: string) => logs.push(line) })
    const handle = await startRecorder(recorderOptions({ relay: r.url, out, logger, limit: 100000 }))
    // The relay serves everything from 400 on: wait for seq 600, then stop.
    await waitUntil(() => handle.status().currentSeq === 600, { what: 'seq 600', timeoutMs: 15_000, intervalMs: 10 })
    const summary = await handle.stop()
    const back = await readFixture(out)
    const recordedSeqs = back.frames.map((f) => seqOf(f.bytes))
    const lastBeforeGap = r.cursors[1]!
    expect(lastBeforeGap).toBeGreaterThanOrEqual(1)
    expect(lastBeforeGap).toBeLessThan(400)
    expect(back.manifest!.gaps).toHaveLength(1)
    expect(back.manifest!.gaps[0]).toMatchObject({ afterSeq: lastBeforeGap, beforeSeq: 400 })
    expect(back.manifest!.gaps[0]!.note).toContain('OutdatedCursor')
    expect(summary.gaps).toBe(1)
    expect(summary.continuity.outdatedCursor).toBe(1)
    // Everything the relay sent is there, the #info frame included, in order.
    const expected = [...source.slice(0, lastBeforeGap), OUTDATED_CURSOR_FRAME, ...source.slice(399)]
    expect(
      firstDifference(
        back.frames.map((f) => f.bytes),
        expected,
      ),
    ).toBe(-1)
    expect(recordedSeqs.at(-1)).toBe(600)
    expect(logs.some((line) => line.includes('gap in the recording') && line.includes('"beforeSeq":400'))).toBe(true)
  })

  it('rotates into complete numbered files that together hold the whole recording', async () => {
    const source = sequencedFrames(1200, 1)
    const r = await relay({ frames: source })
    const out = join(tempDir(), 'rot.fixture.gz')
    const maxFrame = Math.max(...source.map((bytes) => bytes.length)) + 1000
    const summary = await (await startRecorder(recorderOptions({ relay: r.url, out, limit: source.length, rotateMb: 0.05 }))).done
    expect(summary.files.length).toBeGreaterThan(3)
    expect(summary.files).toEqual(summary.files.map((_, i) => rotatedPath(out, i)))
    expect(existsSync(out)).toBe(false)
    const all: Uint8Array[] = []
    for (const [i, file] of summary.files.entries()) {
      const back = await readFixture(file)
      expect(back.manifest?.complete, file).toBe(true)
      expect(back.manifest?.frameCount, file).toBe(back.frames.length)
      expect(back.frames.length, file).toBeGreaterThan(0)
      if (i < summary.files.length - 1) {
        expect(summary.manifests[i]!.lastSeq! + 1).toBe(summary.manifests[i + 1]!.firstSeq)
        // Rotated at the size limit, overshooting by at most one (compressed) frame.
        expect(statSync(file).size, file).toBeGreaterThanOrEqual(50_000)
        expect(statSync(file).size, file).toBeLessThan(50_000 + maxFrame)
      }
      all.push(...back.frames.map((f) => f.bytes))
    }
    expect(firstDifference(all, source)).toBe(-1)
  })

  it('stops at --limit with exactly that many frames, and at --duration with a finalised file', async () => {
    const source = sequencedFrames(400, 50)
    const fast = await relay({ frames: source })
    const dir = tempDir()
    const limited = await (await startRecorder(recorderOptions({ relay: fast.url, out: join(dir, 'limit.fixture.gz'), limit: 123 }))).done
    expect(limited.frames).toBe(123)
    const back = await readFixture(join(dir, 'limit.fixture.gz'))
    expect(
      firstDifference(
        back.frames.map((f) => f.bytes),
        source.slice(0, 123),
      ),
    ).toBe(-1)

    const slow = await relay({ frames: source, ratePerSec: 100 })
    const timed = await (await startRecorder(recorderOptions({ relay: slow.url, out: join(dir, 'timed.fixture.gz'), durationSec: 0.6 }))).done
    expect(timed.stopReason).toBe('duration')
    expect(timed.frames).toBeGreaterThan(0)
    expect(timed.frames).toBeLessThan(source.length)
    const timedBack = await readFixture(join(dir, 'timed.fixture.gz'))
    expect(timedBack.manifest?.complete).toBe(true)
    expect(
      firstDifference(
        timedBack.frames.map((f) => f.bytes),
        source.slice(0, timed.frames),
      ),
    ).toBe(-1)
  })

  it('starts after --cursor and accepts the relay as a bare host:port origin', async () => {
    const source = sequencedFrames(100, 1)
    const r = await relay({ frames: source })
    const origin = r.url.replace('/xrpc/com.atproto.sync.subscribeRepos', '')
    const out = join(tempDir(), 'cursor.fixture')
    const summary = await (await startRecorder(recorderOptions({ relay: origin, out, cursor: 60, limit: 40 }))).done
    expect(r.cursors).toEqual([60])
    expect(summary.firstSeq).toBe(61)
    expect(
      firstDifference(
        (await readFixture(out)).frames.map((f) => f.bytes),
        source.slice(60),
      ),
    ).toBe(-1)
  })

  it('fails at start with a clear error when the file cannot be created', async () => {
    await expect(startRecorder({ relay: 'ws://127.0.0.1:1', out: join(tempDir(), 'no/such/dir/x.gz') })).rejects.toMatchObject({
      code: 'FIXTURE_NOT_FOUND',
    })
  })
})

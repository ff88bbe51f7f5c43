import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encode } from '@ipld/dag-cbor'
import { beforeAll, describe, it, type OnTestFinishedHandler } from 'vitest'
import { cliEntryPoint } from '../../harness/ingestor-process.js'
import { waitUntil } from '../../harness/wait.js'
import { startReplay } from '../../replay/index.js'
import { startCli, type CliProcess } from '../support/cli.js'
import { startMiniRelay } from './mini-relay.js'
import { firstDifference, readFixture, sequencedFrames, writeFixture, type ReadBack } from './source-frames.js'

/** The test's own onTestFinished: cleanups run when that test ends, last registered first. */
type Cleanup = (handler: OnTestFinishedHandler) => void

// The CLI runs from the build, as users run it (`npm test` builds first).
beforeAll(() => {
  if (!existsSync(cliEntryPoint())) throw new Error(`${cliEntryPoint()} is missing: run \`npm run build\` first`)
})

function tempDir(cleanup: Cleanup): string {
  const dir = mkdtempSync(join(tmpdir(), 'record-cli-'))
  cleanup(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** `firehose record ARGS` (logging warnings unless `env` says otherwise), killed when the test ends if still running. */
function record(args: string[], cleanup: Cleanup, env: Record<string, string> = {}): CliProcess {
  const run = startCli(['record', ...args], { env: { ...process.env, FIREHOSE_LOG_LEVEL: 'warn', ...env }, timeoutMs: 60_000 })
  cleanup(() => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL')
  })
  return run
}

/** Polls the file being written until it holds at least `frames` frames (read as a reader would). */
async function waitForFrames(path: string, frames: number, timeoutMs = 20_000): Promise<ReadBack> {
  let back = null as ReadBack | null
  await waitUntil(
    async () => {
      back = existsSync(path) ? await readFixture(path).catch(() => null) : null
      return back !== null && back.frames.length >= frames
    },
    { what: `${frames} frames in ${path}`, timeoutMs, intervalMs: 100 },
  )
  return back!
}

// Each case has its own relay, output directory and recorder: concurrent.
describe.concurrent('firehose record (CLI)', () => {
  it('exits 2 with a one-line reason on bad flags, before connecting', async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished)
    const cases: [string[], RegExp][] = [
      [['--out', join(dir, 'a.gz')], /--relay/],
      [['--relay', 'ftp://example.com', '--out', join(dir, 'b.gz')], /ws: or wss:/],
      [['--relay', 'ws://127.0.0.1:1', '--out', join(dir, 'c.gz'), '--limit', '-1'], /integer/],
      [['--relay', 'ws://127.0.0.1:1', '--out', join(dir, 'd.gz'), '--cursor', 'abc'], /integer/],
      [['--relay', 'ws://127.0.0.1:1', '--out', join(dir, 'e.gz'), '--rotate-mb', '0'], /positive number/],
      [['--relay', 'ws://127.0.0.1:1', '--out', join(dir, 'g.gz'), '--bogus'], /unknown option/],
      [['--relay', 'ws://127.0.0.1:1', '--out', join(dir, 'h.gz'), '--max-message-mb', '0'], /integer/],
    ]
    // Three at a time: each is a full Node start-up, on two shared cores.
    const results: Awaited<CliProcess['done']>[] = []
    for (let i = 0; i < cases.length; i += 3) results.push(...(await Promise.all(cases.slice(i, i + 3).map(([args]) => record(args, onTestFinished).done))))
    results.forEach((result, i) => {
      expect(result.code, `${cases[i]![0].join(' ')}: ${result.stderr}`).toBe(2)
      expect(result.stderr, cases[i]![0].join(' ')).toMatch(cases[i]![1])
    })
    // Nothing was created: validation happens before the recorder starts.
    for (const name of ['a.gz', 'b.gz', 'c.gz', 'd.gz', 'e.gz', 'g.gz', 'h.gz']) expect(existsSync(join(dir, name))).toBe(false)
  }, 90_000)

  it('--max-message-mb: a relay message over the limit is refused (logged, retried); raising the limit records it', async ({ expect, onTestFinished }) => {
    // Frame 5 is a 1.5 MiB #identity (a valid header + body with seq 5).
    const source = sequencedFrames(10, 1)
    source[4] = new Uint8Array(Buffer.concat([encode({ op: 1, t: '#identity' }), encode({ seq: 5, did: 'did:plc:big', time: '2024-01-01T00:00:00Z', handle: 'x'.repeat(1.5 * 1024 * 1024) })]))
    const relay = await startMiniRelay({ frames: source })
    onTestFinished(() => relay.close())
    const dir = tempDir(onTestFinished)
    const refused = await record(['--relay', relay.url, '--out', join(dir, 'refused.gz'), '--max-message-mb', '1', '--duration', '3'], onTestFinished).done
    expect(refused.code, refused.stderr).toBe(0)
    expect(refused.stderr).toMatch(/over the 1048576-byte limit after cursor 4/)
    expect((await readFixture(join(dir, 'refused.gz'))).frames.map((frame) => frame.bytes.byteLength > 1024 * 1024)).toEqual([false, false, false, false])
    const recorded = await record(['--relay', relay.url, '--out', join(dir, 'recorded.gz'), '--max-message-mb', '2', '--limit', '10'], onTestFinished).done
    expect(recorded.code, recorded.stderr).toBe(0)
    expect(
      firstDifference(
        (await readFixture(join(dir, 'recorded.gz'))).frames.map((f) => f.bytes),
        source,
      ),
    ).toBe(-1)
  })

  it('--limit: records exactly N frames, prints a summary line and exits 0', async ({ expect, onTestFinished }) => {
    const source = sequencedFrames(200, 1)
    const relay = await startMiniRelay({ frames: source })
    onTestFinished(() => relay.close())
    const out = join(tempDir(onTestFinished), 'limit.fixture.gz')
    const result = await record(['--relay', relay.url, '--out', out, '--limit', '50'], onTestFinished).done
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toMatch(/^recorded 50 frames, seq 1\.\.50, .* stopped by limit -> .*limit\.fixture\.gz$/m)
    const back = await readFixture(out)
    expect(back.manifest?.complete).toBe(true)
    expect(
      firstDifference(
        back.frames.map((f) => f.bytes),
        source.slice(0, 50),
      ),
    ).toBe(-1)
  })

  it('on a finished replay: logs its ReplayFinished info (one component per line) instead of silence; --cursor 0 records it all without a gap', async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished)
    const sourcePath = join(dir, 'source.fixture.gz')
    const source = sequencedFrames(60, 20_000_000_001)
    await writeFixture(sourcePath, source)
    const replay = await startReplay({ files: [sourcePath], rate: { mode: 'max' }, start: 'now', seed: 1 })
    onTestFinished(() => replay.close())
    await waitUntil(() => replay.status().finished, { what: 'the replay to publish everything', timeoutMs: 20_000 })
    const waiting = record(['--relay', replay.url, '--out', join(dir, 'live.gz'), '--limit', '500'], onTestFinished, { FIREHOSE_LOG_LEVEL: 'info' })
    await waitUntil(() => waiting.stderr.includes('"info":"ReplayFinished"'), { what: 'the ReplayFinished line on stderr', timeoutMs: 20_000 })
    waiting.child.kill('SIGINT')
    const stopped = await waiting.done
    expect(stopped.code, stopped.stderr).toBe(0)
    const logLines = stopped.stderr.split('\n').filter((line) => line.startsWith('{'))
    expect(logLines.find((line) => line.includes('"relay connected"'))).toBeDefined()
    for (const line of logLines) expect(line.match(/"component"/g)?.length ?? 0, line).toBeLessThanOrEqual(1)

    const fromZero = await record(['--relay', replay.url, '--out', join(dir, 'zero.gz'), '--cursor', '0', '--limit', '60'], onTestFinished).done
    expect(fromZero.code, fromZero.stderr).toBe(0)
    expect(fromZero.stderr).toMatch(/^recorded 60 frames, seq 20000000001\.\.20000000060, .*\(\d+\.\dx\), stopped by limit -> .*zero\.gz$/m)
    expect((await readFixture(join(dir, 'zero.gz'))).manifest?.gaps).toEqual([])
  })

  it('SIGINT: stops cleanly with a finalised file holding a prefix of the stream', async ({ expect, onTestFinished }) => {
    const source = sequencedFrames(3000, 1)
    const relay = await startMiniRelay({ frames: source, ratePerSec: 300 })
    onTestFinished(() => relay.close())
    const out = join(tempDir(onTestFinished), 'int.fixture.gz')
    const run = record(['--relay', relay.url, '--out', out], onTestFinished)
    await waitForFrames(out, 30)
    run.child.kill('SIGINT')
    const result = await run.done
    expect(result.code, result.stderr).toBe(0)
    const back = await readFixture(out)
    expect(back.truncated).toBe(false)
    expect(back.manifest?.complete).toBe(true)
    expect(back.frames.length).toBeGreaterThanOrEqual(30)
    expect(
      firstDifference(
        back.frames.map((f) => f.bytes),
        source.slice(0, back.frames.length),
      ),
    ).toBe(-1)
    expect(result.stderr).toContain(`recorded ${back.frames.length} frames`)
    expect(result.stderr).toContain('stopped by SIGINT')
  })

  it('kill -9: the file stays readable up to the last flushed frame', async ({ expect, onTestFinished }) => {
    const source = sequencedFrames(3000, 1)
    const relay = await startMiniRelay({ frames: source, ratePerSec: 300 })
    onTestFinished(() => relay.close())
    const out = join(tempDir(onTestFinished), 'killed.fixture.gz')
    const run = record(['--relay', relay.url, '--out', out], onTestFinished)
    // Frames seen by a reader were flushed by the recorder's periodic flush (nothing else flushes).
    const seen = await waitForFrames(out, 50)
    run.child.kill('SIGKILL')
    const result = await run.done
    expect(result.signal).toBe('SIGKILL')
    const back = await readFixture(out)
    expect(back.truncated).toBe(true)
    expect(back.manifest?.complete).toBe(false)
    expect(back.frames.length).toBeGreaterThanOrEqual(seen.frames.length)
    expect(
      firstDifference(
        back.frames.map((f) => f.bytes),
        source.slice(0, back.frames.length),
      ),
    ).toBe(-1)
    expect(back.manifest?.frameCount).toBe(back.frames.length)
  })
})

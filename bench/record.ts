import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createGzip } from 'node:zlib'
import WebSocket from 'ws'
import { cachedGeneratedFixture } from '../harness/fixture-cache.js'
import { freePort } from '../harness/free-port.js'
import { openFixture, zstdAvailable } from '../fixture-file/index.js'
import { Continuity } from '../recorder/continuity.js'
import { startRecorder } from '../recorder/index.js'
import { RotatingWriter } from '../recorder/rotating-writer.js'

/**
 * Recorder throughput and compression: a replay server child process (`firehose replay --max
 * --loop`, the other core) feeds each consumer N frames from cursor 0. Consumers, measured in
 * the same run on the same data:
 *  - the recorder (library, .gz fixture: peek, continuity, fixture records, periodic flush),
 *  - the recorder writing an uncompressed fixture (what gzip costs), and .zst where Node has it,
 *  - the peer: a plain ws client appending length + time + bytes to a gzip stream (the least a
 *    recorder can do; no seq tracking, no manifest, no flushes),
 *  - the ceiling: the same client writing nothing (how fast the replay child and ws deliver),
 *  - the recorder's pipeline without sockets (continuity check + fixture writer on frames in
 *    memory): its own cost per frame, whatever the feeder can do.
 *
 * node dist/bench/record.js [--frames N] [--fixture FILE]
 */
const root = fileURLToPath(new URL(existsSync(fileURLToPath(new URL('../../package.json', import.meta.url))) ? '../../' : '../', import.meta.url))
const cli = join(root, 'dist/cli/index.js')
const args = parseArgs(process.argv.slice(2))

interface Run {
  name: string
  frames: number
  seconds: number
  framesPerSec: number
  frameBytes: number
  fileBytes: number
}

async function main(): Promise<void> {
  const fixture = args.fixture ?? (existsSync(join(root, 'fixtures/generated.fixture.gz')) ? join(root, 'fixtures/generated.fixture.gz') : await cachedGeneratedFixture({ events: 5000, seed: 1 }))
  const runs: Run[] = []
  runs.push(await withReplay(fixture, (url) => recorderRun('recorder (.gz fixture)', url, 'gz')))
  runs.push(await withReplay(fixture, (url) => recorderRun('recorder (uncompressed fixture)', url, 'raw')))
  runs.push(await withReplay(fixture, (url) => peerRun('peer: ws -> gzip stream', url)))
  runs.push(await withReplay(fixture, (url) => peerRun('ceiling: ws -> nothing (replay speed)', url, false)))
  if (zstdAvailable) runs.push(await withReplay(fixture, (url) => recorderRun('recorder (.zst fixture)', url, 'zst')))
  // Without sockets or the replay child: what the recorder's own per-frame work costs.
  const frames = await loadFrames(fixture)
  runs.push(await pipelineRun('recorder pipeline, no socket (.gz)', frames, 'gz'))
  runs.push(await pipelineRun('recorder pipeline, no socket (raw)', frames, 'raw'))

  console.log(`\nfixture: ${fixture}, frames per run: ${args.frames}, node ${process.version}`)
  for (const run of runs) {
    const disk = run.fileBytes === 0 ? 'nothing written' : `${(run.fileBytes / 1e6).toFixed(1)} MB on disk (compression ${(run.frameBytes / run.fileBytes).toFixed(2)}x)`
    console.log(`${run.name.padEnd(38)} ${String(run.framesPerSec).padStart(7)} frames/s  ${run.seconds.toFixed(2)} s  ${(run.frameBytes / 1e6).toFixed(1)} MB frames -> ${disk}`)
  }
  const [recorder, raw, peer, ceiling] = runs as [Run, Run, Run, Run, ...Run[]]
  console.log(`ratio recorder / peer throughput: ${(recorder.framesPerSec / peer.framesPerSec).toFixed(2)}x`)
  console.log(`ratio recorder (.gz) / recorder (uncompressed) throughput: ${(recorder.framesPerSec / raw.framesPerSec).toFixed(2)}x`)
  console.log(`ratio recorder (uncompressed) / ceiling: ${(raw.framesPerSec / ceiling.framesPerSec).toFixed(2)}x`)
  console.log(`ratio recorder / peer file size: ${(recorder.fileBytes / peer.fileBytes).toFixed(3)}x`)
  const best = runs.filter((run) => run.name.startsWith('recorder')).reduce((a, b) => (b.framesPerSec > a.framesPerSec ? b : a))
  console.log(`target >= 50,000 frames/s: ${best.framesPerSec >= 50_000 ? 'met' : 'NOT met'} (best: ${best.name}, ${best.framesPerSec} frames/s)`)
}

async function withReplay(fixture: string, run: (url: string) => Promise<Run>): Promise<Run> {
  const port = await freePort()
  const child = spawn(process.execPath, [cli, 'replay', fixture, '--max', '--loop', '--start', 'first-client', '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, FIREHOSE_LOG_LEVEL: 'warn' },
  })
  try {
    await waitForHttp(`http://127.0.0.1:${port}/_replay/status`, child)
    return await run(`ws://127.0.0.1:${port}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`)
  } finally {
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('exit', resolve))
  }
}

async function recorderRun(name: string, url: string, kind: 'gz' | 'zst' | 'raw'): Promise<Run> {
  const out = join(tmpdir(), `bench-record-${process.pid}.fixture${kind === 'raw' ? '' : `.${kind}`}`)
  try {
    const handle = await startRecorder({ relay: url, out, cursor: 0, limit: args.frames })
    // Timed from the first frame, so connection set-up is not counted.
    while (handle.status().frames === 0) await new Promise((resolve) => setTimeout(resolve, 1))
    const t0 = performance.now()
    const summary = await handle.done
    const seconds = (performance.now() - t0) / 1000
    return { name, frames: summary.frames, seconds, framesPerSec: Math.round(summary.frames / seconds), frameBytes: summary.frameBytes, fileBytes: (await stat(out)).size }
  } finally {
    await rm(out, { force: true })
  }
}

async function loadFrames(fixture: string): Promise<Uint8Array[]> {
  const reader = await openFixture(fixture)
  const frames: Uint8Array[] = []
  for await (const frame of reader.frames()) frames.push(Uint8Array.from(frame.bytes))
  await reader.close()
  return frames
}

/** Continuity check + fixture writer on frames already in memory (cycled), as the recorder's pump does. */
async function pipelineRun(name: string, frames: Uint8Array[], kind: 'gz' | 'raw'): Promise<Run> {
  const out = join(tmpdir(), `bench-record-pipeline-${process.pid}.fixture${kind === 'gz' ? '.gz' : ''}`)
  try {
    const writer = await RotatingWriter.open({ out, rotateBytes: null, source: 'bench' })
    const continuity = new Continuity(null)
    continuity.onOpen(null)
    let frameBytes = 0
    const t0 = performance.now()
    for (let i = 0; i < args.frames; i++) {
      const bytes = frames[i % frames.length]!
      continuity.observe(bytes)
      frameBytes += bytes.length
      if (!writer.write({ timeUs: Date.now() * 1000, bytes })) await writer.drain()
    }
    await writer.close()
    const seconds = (performance.now() - t0) / 1000
    return { name, frames: args.frames, seconds, framesPerSec: Math.round(args.frames / seconds), frameBytes, fileBytes: (await stat(out)).size }
  } finally {
    await rm(out, { force: true })
  }
}

/** The peer: every message as length + receive time + bytes into gzip, with backpressure. */
async function peerRun(name: string, url: string, write = true): Promise<Run> {
  const out = join(tmpdir(), `bench-record-peer-${process.pid}.bin.gz`)
  try {
    const gzip = createGzip()
    const file = createWriteStream(out)
    gzip.pipe(file)
    const written = new Promise<void>((resolve) => file.once('close', () => resolve()))
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 })
    let frames = 0
    let frameBytes = 0
    let t0 = 0
    let waiting = false
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject)
      ws.on('message', (data: Buffer) => {
        if (frames >= args.frames) return
        if (frames === 0) t0 = performance.now()
        const head = Buffer.allocUnsafe(12)
        head.writeUInt32LE(data.length, 0)
        head.writeDoubleLE(Date.now() * 1000, 4)
        if (write) gzip.write(head)
        const more = write ? gzip.write(data) : true
        frames++
        frameBytes += data.length
        if (frames === args.frames) {
          ws.terminate()
          resolve()
        } else if (!more && !waiting) {
          waiting = true
          ws.pause()
          gzip.once('drain', () => {
            waiting = false
            ws.resume()
          })
        }
      })
    })
    gzip.end()
    await written
    const seconds = (performance.now() - t0) / 1000
    return { name, frames, seconds, framesPerSec: Math.round(frames / seconds), frameBytes, fileBytes: write ? (await stat(out)).size : 0 }
  } finally {
    await rm(out, { force: true })
  }
}

async function waitForHttp(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`replay exited with ${child.exitCode}`)
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`replay did not answer at ${url}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function parseArgs(argv: string[]): { frames: number; fixture: string | undefined } {
  const result = { frames: 200_000, fixture: undefined as string | undefined }
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1]
    if (argv[i] === '--frames' && value !== undefined) result.frames = Number(value)
    else if (argv[i] === '--fixture' && value !== undefined) result.fixture = value
    else throw new Error(`usage: node dist/bench/record.js [--frames N] [--fixture FILE]`)
    i++
  }
  if (!Number.isSafeInteger(result.frames) || result.frames < 1) throw new Error('--frames must be a positive integer')
  return result
}

await main()

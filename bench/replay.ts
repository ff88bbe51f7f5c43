import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocketServer, type WebSocket } from 'ws'
import { FixtureWriter } from '../fixture-file/index.js'
import { encodeFrame } from '../protocol/frame.js'
import { startReplay, withSeq, type ReplayHandle } from '../replay/index.js'

/**
 * Replay server throughput and rate accuracy.
 * 1. --max to one client on loopback (client in a child process), against a named peer measured
 *    in the same run on the same frames: a bare ws server that sends the frames from memory in a
 *    loop with the same backpressure rule (ws + socket drain). Small synthetic frames and real
 *    frames (indigo relay scenarios, re-sequenced). Ratio = replay / peer.
 * 2. Rate error of the token bucket at 1k, 5k and 20k events/s over --rate-seconds each,
 *    counted at the client and in status.
 *
 * node dist/bench/replay.js [--frames N] [--real-frames N] [--rate-seconds S]   (prints numbers, no assertions)
 */
const root = fileURLToPath(new URL(existsSync(fileURLToPath(new URL('../../package.json', import.meta.url))) ? '../../' : '../', import.meta.url))
const SCENARIOS = fileURLToPath(new URL('../../test/data/real/indigo-relay-scenarios', import.meta.url))

interface Args {
  frames: number
  realFrames: number
  rateSeconds: number
}

interface Throughput {
  framesPerSec: number
  mbPerSec: number
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const dir = await mkdtemp(join(tmpdir(), 'replay-bench-'))
  try {
    console.log(`node ${process.version}; --max to one client (child process) on loopback\n`)
    const datasets: [string, Uint8Array[]][] = [[`synthetic #identity frames`, syntheticFrames(args.frames)]]
    if (existsSync(SCENARIOS)) datasets.push([`real frames (indigo scenarios, re-sequenced)`, await realFrames(args.realFrames)])
    for (const [name, frames] of datasets) {
      const file = join(dir, 'bench.fixture.gz')
      await writeFixture(file, frames)
      const mean = Math.round(frames.reduce((n, f) => n + f.byteLength, 0) / frames.length)
      const ours = await measureReplay(file, frames.length)
      const peer = await measurePeer(frames)
      console.log(`${name}: ${frames.length} frames, mean ${mean} bytes`)
      console.log(`  replay --max     ${fmt(ours)}`)
      console.log(`  bare ws (peer)   ${fmt(peer)}`)
      console.log(`  ratio replay/peer ${(ours.framesPerSec / peer.framesPerSec).toFixed(2)}\n`)
    }

    console.log(`rate accuracy (token bucket), ${args.rateSeconds} s per rate after 1 s warm-up`)
    const rateFile = join(dir, 'rate.fixture.gz')
    await writeFixture(rateFile, syntheticFrames(50_000))
    for (const eventsPerSec of [1_000, 5_000, 20_000]) {
      const { client, status } = await measureRate(rateFile, eventsPerSec, args.rateSeconds)
      const err = (x: number): string => `${(((x - eventsPerSec) / eventsPerSec) * 100).toFixed(3)}%`
      console.log(`  ${String(eventsPerSec).padStart(6)}/s: client ${client.toFixed(1)}/s (error ${err(client)}), status ${status.toFixed(1)}/s (error ${err(status)})`)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function fmt(result: Throughput): string {
  return `${Math.round(result.framesPerSec).toLocaleString('en-US').padStart(9)} frames/s  ${result.mbPerSec.toFixed(1).padStart(7)} MB/s`
}

async function measureReplay(file: string, count: number): Promise<Throughput> {
  const replay = await startReplay({ files: [file], start: 'first-client', rate: { mode: 'max' } })
  try {
    return await runClient(replay.url, count)
  } finally {
    await replay.close()
  }
}

/** The peer: frames from memory, ws.send while the socket takes them (512 KiB), wait for 'drain' otherwise. */
async function measurePeer(frames: Uint8Array[]): Promise<Throughput> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false })
  await new Promise((resolve) => wss.once('listening', resolve))
  wss.on('connection', (ws: WebSocket, req) => {
    const socket = req.socket
    let i = 0
    // Batches of 2048 between event-loop turns, like the replay timeline, so a fast reader
    // cannot starve the loop.
    const pump = (): void => {
      for (let batch = 0; batch < 2048; batch++) {
        if (ws.readyState !== ws.OPEN) return
        if (socket.writableLength >= 512 * 1024 && socket.writableNeedDrain) {
          socket.once('drain', pump)
          return
        }
        ws.send(frames[i++ % frames.length]!, { binary: true })
      }
      setImmediate(pump)
    }
    pump()
  })
  const port = (wss.address() as { port: number }).port
  try {
    return await runClient(`ws://127.0.0.1:${port}/`, frames.length)
  } finally {
    for (const client of wss.clients) client.terminate()
    await new Promise((resolve) => wss.close(resolve))
  }
}

const CLIENT = `
import { WebSocket } from 'ws'
const [url, count] = [process.argv[1], Number(process.argv[2])]
const ws = new WebSocket(url)
let n = 0, bytes = 0, start = 0
ws.on('message', (data) => {
  if (n === 0) start = performance.now()
  n++; bytes += data.length
  if (n === count) { process.stdout.write(JSON.stringify({ n, bytes, ms: performance.now() - start })); ws.terminate() }
})
ws.on('close', () => process.exit(0))
`

/** Counts `count` frames in a child process; timing starts at the first frame. */
async function runClient(url: string, count: number): Promise<Throughput> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT, url, String(count)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  await new Promise((resolve) => child.once('exit', resolve))
  const { n, bytes, ms } = JSON.parse(out) as { n: number; bytes: number; ms: number }
  return { framesPerSec: ((n - 1) * 1000) / ms, mbPerSec: ((bytes / ms) * 1000) / 1e6 }
}

async function measureRate(file: string, eventsPerSec: number, seconds: number): Promise<{ client: number; status: number }> {
  const replay: ReplayHandle = await startReplay({ files: [file], loop: true, rate: { mode: 'rate', eventsPerSec }, start: 'first-client' })
  const script = `
import { WebSocket } from 'ws'
const ws = new WebSocket(process.argv[1])
let n = 0
ws.on('message', () => n++)
setTimeout(() => {
  const from = n, t0 = performance.now()
  setTimeout(() => { process.stdout.write(JSON.stringify({ n: n - from, ms: performance.now() - t0 })); ws.terminate() }, ${seconds * 1000})
}, 1000)
ws.on('close', () => process.exit(0))
`
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, replay.url], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const from = replay.status().framesPublished
    const t0 = performance.now()
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const status = ((replay.status().framesPublished - from) * 1000) / (performance.now() - t0)
    await new Promise((resolve) => child.once('exit', resolve))
    const { n, ms } = JSON.parse(out) as { n: number; ms: number }
    return { client: (n * 1000) / ms, status }
  } finally {
    await replay.close()
  }
}

function syntheticFrames(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => encodeFrame({ op: 1, t: '#identity' }, { seq: i + 1, did: `did:plc:bench${i % 1000}`, time: '2024-01-01T00:00:00.000Z' }))
}

async function realFrames(count: number): Promise<Uint8Array[]> {
  const real: Uint8Array[] = []
  for (const scenario of (await readdir(SCENARIOS, { withFileTypes: true })).filter((e) => e.isDirectory())) {
    const framesDir = join(SCENARIOS, scenario.name, 'frames')
    for (const name of (await readdir(framesDir)).sort()) real.push(new Uint8Array(await readFile(join(framesDir, name))))
  }
  return Array.from({ length: count }, (_, i) => withSeq(real[i % real.length]!, i + 1))
}

async function writeFixture(path: string, frames: Uint8Array[]): Promise<void> {
  const writer = await FixtureWriter.create(path, { source: 'bench' })
  for (let i = 0; i < frames.length; i++) {
    if (!writer.write({ timeUs: 1_700_000_000_000_000 + i * 1_000, bytes: frames[i]! })) await writer.drain()
  }
  await writer.close()
}

function parseArgs(argv: string[]): Args {
  const args: Args = { frames: 300_000, realFrames: 30_000, rateSeconds: 10 }
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1])
    if (!Number.isFinite(value) || value <= 0) throw new Error(`bad value for ${argv[i]}`)
    if (argv[i] === '--frames') args.frames = value
    else if (argv[i] === '--real-frames') args.realFrames = value
    else if (argv[i] === '--rate-seconds') args.rateSeconds = value
    else throw new Error(`unknown flag ${argv[i]} (use --frames, --real-frames, --rate-seconds)`)
  }
  return args
}

await main()

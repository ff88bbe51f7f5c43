import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cborToLexRecord, readCar } from '@atproto/repo'
import { Frame } from '@atproto/xrpc-server'
import { decodeEvent } from '../protocol/events.js'
import { openFixture } from '../protocol/fixture/index.js'

/**
 * Decode throughput of decodeEvent (one frame -> typed event with records in the JSON data
 * model), with and without the block hash check, against a named peer measured in the same run
 * on the same frames: the official TypeScript path that @atproto/sync's Firehose client takes
 * (@atproto/xrpc-server Frame.fromBytes, @atproto/repo readCar, cborToLexRecord per op).
 * The peer stops at lex values; decodeEvent also converts records to JSON-model objects.
 *
 * node dist/bench/decode.js [--seconds S] [--fixture FILE]   (no assertions; prints numbers)
 */
// Repository root, whether this runs from dist/bench/ or bench/.
const ROOT = fileURLToPath(new URL(existsSync(fileURLToPath(new URL('../../package.json', import.meta.url))) ? '../../' : '../', import.meta.url))
const REAL_DATA = join(ROOT, 'test', 'data', 'real')

interface Dataset {
  name: string
  frames: Uint8Array[]
}

interface Result {
  framesPerSec: number
  framesPerCpuSec: number
  mbPerSec: number
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const datasets: Dataset[] = []
  if (existsSync(REAL_DATA)) datasets.push({ name: 'test/data/real (all frames)', frames: realFrames() })
  const fixturePath = args.fixture ?? join(ROOT, 'fixtures', 'generated.fixture.gz')
  if (existsSync(fixturePath)) datasets.push({ name: fixturePath, frames: await fixtureFrames(fixturePath) })
  else console.log(`(no fixture at ${fixturePath}: skipped)`)
  if (datasets.length === 0) throw new Error('no frames to decode')

  console.log(`node ${process.version}, ${args.seconds} s per measurement, decoders interleaved in ${ROUNDS} rounds`)
  console.log('frames/s is wall-clock; "per CPU-s" divides by the process CPU time, steadier on a shared machine\n')
  for (const { name, frames } of datasets) {
    const bytes = frames.reduce((n, f) => n + f.byteLength, 0)
    const decodable = frames.filter((f) => decodes(f))
    console.log(`${name}: ${frames.length} frames, mean ${Math.round(bytes / frames.length)} bytes` +
      (decodable.length < frames.length ? ` (${frames.length - decodable.length} undecodable frames left out)` : ''))
    // 'records' hashes only the op records we decode; the peer has no such mode, so it verifies all.
    for (const mode of ['all', 'records', 'none'] as const) {
      const label = { all: 'hash check all    ', records: 'hash check records', none: 'hash check off    ' }[mode]
      const [ours, peer] = await measurePair(
        decodable,
        args.seconds,
        (f) => void decodeEvent(f, { verifyBlocks: mode }),
        (f) => peerDecode(f, mode !== 'none'),
      )
      console.log(`  decodeEvent             ${label}  ${format(ours)}`)
      console.log(`  @atproto/sync path      ${label}  ${format(peer)}`)
      console.log(`  ratio decodeEvent / @atproto/sync path (${label.trim()}): ${(ours.framesPerSec / peer.framesPerSec).toFixed(2)}x wall, ` +
        `${(ours.framesPerCpuSec / peer.framesPerCpuSec).toFixed(2)}x CPU`)
    }
    console.log()
  }
}

/** What @atproto/sync does per frame: split with lex-cbor, read the CAR (optionally verifying), parse each record. */
async function peerDecode(bytes: Uint8Array, verify: boolean): Promise<void> {
  const frame = Frame.fromBytes(bytes)
  if (!frame.isMessage()) return
  const body = frame.body as { blocks?: unknown; ops?: { action: string; cid?: unknown }[] }
  if (frame.header.t !== '#commit' && frame.header.t !== '#sync') return
  const car = await readCar(body.blocks as Uint8Array, { skipCidVerification: !verify })
  for (const op of body.ops ?? []) {
    if (op.action === 'delete' || !op.cid) continue
    const block = car.blocks.get(op.cid as Parameters<typeof car.blocks.get>[0])
    if (block) cborToLexRecord(block)
  }
}

const ROUNDS = 10

type Decoder = (frame: Uint8Array) => void | Promise<void>

/** Times two decoders in alternating rounds, so load changes on a shared machine hit both alike. */
async function measurePair(frames: Uint8Array[], seconds: number, a: Decoder, b: Decoder): Promise<[Result, Result]> {
  const totals = [a, b].map((decode) => ({ decode, frames: 0, bytes: 0, wall: 0, cpu: 0 }))
  const bytesPerPass = frames.reduce((n, f) => n + f.byteLength, 0)
  // Warm up the JIT on every frame before timing.
  for (const total of totals) for (let i = 0; i < 3; i++) await pass(frames, total.decode)
  for (let round = 0; round < ROUNDS; round++) {
    for (const total of totals) {
      const cpuStart = process.cpuUsage()
      const start = process.hrtime.bigint()
      let elapsed = 0
      while (elapsed < seconds / ROUNDS) {
        await pass(frames, total.decode)
        total.frames += frames.length
        total.bytes += bytesPerPass
        elapsed = Number(process.hrtime.bigint() - start) / 1e9
      }
      const cpu = process.cpuUsage(cpuStart)
      total.wall += elapsed
      total.cpu += (cpu.user + cpu.system) / 1e6
    }
  }
  const [x, y] = totals.map((t) => ({ framesPerSec: t.frames / t.wall, framesPerCpuSec: t.frames / t.cpu, mbPerSec: t.bytes / t.wall / 1e6 }))
  return [x!, y!]
}

/** One pass over the frames; sync decoders are not awaited, so they pay no microtask per frame. */
async function pass(frames: Uint8Array[], decode: Decoder): Promise<void> {
  for (const f of frames) {
    const pending = decode(f)
    if (pending) await pending
  }
}

function decodes(frame: Uint8Array): boolean {
  try {
    decodeEvent(frame)
    return true
  } catch {
    return false
  }
}

function format(r: Result): string {
  const count = (n: number) => Math.round(n).toLocaleString('en-US').padStart(9)
  return `${count(r.framesPerSec)} frames/s  ${r.mbPerSec.toFixed(1).padStart(6)} MB/s  ${count(r.framesPerCpuSec)} per CPU-s`
}

function realFrames(): Uint8Array[] {
  const dirs = [join(REAL_DATA, 'indigo-prod-commits', 'frames')]
  const scenarios = join(REAL_DATA, 'indigo-relay-scenarios')
  for (const entry of readdirSync(scenarios, { withFileTypes: true })) if (entry.isDirectory()) dirs.push(join(scenarios, entry.name, 'frames'))
  return dirs.flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.cbor')).sort().map((f) => Uint8Array.from(readFileSync(join(dir, f)))))
}

async function fixtureFrames(path: string): Promise<Uint8Array[]> {
  const reader = await openFixture(path)
  const frames: Uint8Array[] = []
  try {
    for await (const frame of reader.frames()) frames.push(frame.bytes)
  } finally {
    await reader.close()
  }
  return frames
}

function parseArgs(argv: string[]): { seconds: number; fixture: string | undefined } {
  let seconds = 2
  let fixture: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = argv[i + 1]
    if (flag === '--seconds' && value !== undefined) {
      seconds = Number(value)
      i++
    } else if (flag === '--fixture' && value !== undefined) {
      fixture = value
      i++
    } else {
      throw new Error(`usage: node dist/bench/decode.js [--seconds S] [--fixture FILE] (got ${flag})`)
    }
  }
  if (!(seconds > 0)) throw new Error('--seconds must be a positive number')
  return { seconds, fixture }
}

await main()

import { hash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as atcuteCar from '@atcute/car'
import * as atcuteCbor from '@atcute/cbor'
import { CarBufferReader } from '@ipld/car/buffer-reader'
import * as ipldDagCbor from '@ipld/dag-cbor'
import { cborToLexRecord, readCar } from '@atproto/repo'
import { Frame } from '@atproto/xrpc-server'
import { decodeFirst as cborgDecodeFirst } from 'cborg'
import { CID } from 'multiformats/cid'
import { decodeEvent } from '../protocol/events.js'
import { readFixtureFrames } from '../fixture-file/index.js'

/**
 * Decode throughput of decodeEvent (one frame -> typed event with records in the JSON data
 * model) in each block verification mode, against peers measured in the same run, interleaved,
 * on the same frames, each doing the same work (split the frame, read the CAR, decode each op's
 * record, hash blocks as the mode says):
 * - the official TypeScript path that @atproto/sync's Firehose client takes (@atproto/xrpc-server
 *   Frame.fromBytes, @atproto/repo readCar, cborToLexRecord per op; it verifies all blocks or none),
 * - @atcute/cbor + @atcute/car, the fastest JS DAG-CBOR/CAR pair we know,
 * - @ipld/dag-cbor (cborg) + @ipld/car CarBufferReader, the multiformats reference stack.
 * atcute and ipld have no hash check of their own: theirs is node:crypto's one-shot sha256 per block.
 * Peers stop at their own value model; decodeEvent also builds JSON-model records.
 *
 * node dist/bench/decode.js [--seconds S] [--fixture FILE]   (no assertions; prints numbers)
 * (No forced GC between slices: tried, it shrinks the young generation and bills the regrowth
 * to whoever runs next, distorting far more than the garbage one decoder leaves to the next.)
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
  if (existsSync(fixturePath)) datasets.push({ name: fixturePath, frames: await readFixtureFrames(fixturePath) })
  else console.log(`(no fixture at ${fixturePath}: skipped)`)
  if (datasets.length === 0) throw new Error('no frames to decode')

  console.log(`node ${process.version}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, ${args.seconds} s per measurement, decoders interleaved in ${ROUNDS} rounds`)
  console.log('frames/s is wall-clock; "per CPU-s" divides by the process CPU time, steadier on a shared machine\n')
  for (const { name, frames } of datasets) {
    const bytes = frames.reduce((n, f) => n + f.byteLength, 0)
    const decodable = frames.filter((f) => decodes(f))
    console.log(`${name}: ${frames.length} frames, mean ${Math.round(bytes / frames.length)} bytes` + (decodable.length < frames.length ? ` (${frames.length - decodable.length} undecodable frames left out)` : ''))
    const candidates: { decoder: string; mode: Mode; decode: Decoder }[] = []
    for (const mode of MODES) {
      candidates.push({ decoder: 'decodeEvent', mode, decode: (f) => void decodeEvent(f, { verifyBlocks: mode }) })
      // @atproto/repo's readCar verifies every block or none.
      if (mode !== 'records') candidates.push({ decoder: '@atproto/sync path', mode, decode: (f) => peerDecode(f, mode !== 'none') })
      candidates.push({ decoder: '@atcute/cbor+car', mode, decode: (f) => atcuteDecode(f, mode) })
      candidates.push({ decoder: '@ipld/dag-cbor+car', mode, decode: (f) => ipldDecode(f, mode) })
    }
    const results = await measureAll(
      decodable,
      args.seconds,
      candidates.map((c) => c.decode),
    )
    const rate = (decoder: string, mode: Mode): Result | undefined => results[candidates.findIndex((c) => c.decoder === decoder && c.mode === mode)]
    for (const mode of MODES) {
      const ours = rate('decodeEvent', mode)!
      for (const decoder of DECODERS) {
        const result = rate(decoder, mode)
        if (result === undefined) continue
        const ratio = decoder === 'decodeEvent' ? '' : `  decodeEvent ${(ours.framesPerCpuSec / result.framesPerCpuSec).toFixed(2)}x per CPU-s`
        console.log(`  ${decoder.padEnd(20)} ${MODE_LABEL[mode]}  ${format(result)}${ratio}`)
      }
    }
    const target = rate('@atcute/cbor+car', 'none')!
    for (const mode of ['all', 'records'] as const) {
      console.log(`  decodeEvent (${MODE_LABEL[mode].trim()}) / @atcute (hash check off): ${(rate('decodeEvent', mode)!.framesPerCpuSec / target.framesPerCpuSec).toFixed(2)}x per CPU-s`)
    }
    console.log()
  }
}

const MODES = ['all', 'records', 'none'] as const
type Mode = (typeof MODES)[number]
const MODE_LABEL: Record<Mode, string> = { all: 'hash check all    ', records: 'hash check records', none: 'hash check off    ' }
const DECODERS = ['decodeEvent', '@atproto/sync path', '@atcute/cbor+car', '@ipld/dag-cbor+car']

interface PeerBody {
  blocks?: unknown
  ops?: { action: string; cid?: unknown }[]
}

/** @atcute: split with decodeFirst, index the CAR by CID bytes, decode each op's record. */
function atcuteDecode(bytes: Uint8Array, mode: Mode): void {
  const [header, rest] = atcuteCbor.decodeFirst(bytes) as [{ t?: string }, Uint8Array]
  const body = atcuteCbor.decode(rest) as PeerBody & { blocks: atcuteCbor.Bytes; ops: { action: string; cid?: atcuteCbor.CidLinkWrapper | null }[] }
  if (header.t !== '#commit' && header.t !== '#sync') return
  const blocks = new Map<string, Uint8Array>()
  for (const entry of atcuteCar.fromUint8Array(atcuteCbor.fromBytes(body.blocks))) {
    if (mode === 'all') checkSha256(entry.bytes, entry.cid.digest.contents)
    blocks.set(latin1(entry.cid.bytes), entry.bytes)
  }
  for (const op of body.ops ?? []) {
    if (op.action === 'delete' || !op.cid) continue
    const block = blocks.get(latin1(op.cid.bytes))
    if (block === undefined) continue
    if (mode === 'records') checkSha256(block, op.cid.bytes.subarray(4))
    atcuteCbor.decode(block)
  }
}

/** @ipld: cborg with the dag-cbor options to split, CarBufferReader for the blocks, dag-cbor per record. */
function ipldDecode(bytes: Uint8Array, mode: Mode): void {
  const [header, rest] = cborgDecodeFirst(bytes, ipldDagCbor.decodeOptions) as [{ t?: string }, Uint8Array]
  const body = ipldDagCbor.decode<PeerBody & { blocks: Uint8Array; ops: { action: string; cid?: CID | null }[] }>(rest)
  if (header.t !== '#commit' && header.t !== '#sync') return
  const car = CarBufferReader.fromBytes(body.blocks)
  if (mode === 'all') for (const block of car.blocks()) checkSha256(block.bytes, block.cid.multihash.digest)
  for (const op of body.ops ?? []) {
    if (op.action === 'delete' || !op.cid) continue
    const block = car.get(op.cid)
    if (block === undefined) continue
    if (mode === 'records') checkSha256(block.bytes, block.cid.multihash.digest)
    ipldDagCbor.decode(block.bytes)
  }
}

function checkSha256(data: Uint8Array, digest: Uint8Array): void {
  if (hash('sha256', data, 'binary') !== latin1(digest)) throw new Error('block does not hash to its CID')
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
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

/** Times decoders in interleaved rounds, so load changes on a shared machine hit all alike. */
async function measureAll(frames: Uint8Array[], seconds: number, decoders: Decoder[]): Promise<Result[]> {
  const totals = decoders.map((decode) => ({ decode, frames: 0, bytes: 0, wall: 0, cpu: 0 }))
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
  return totals.map((t) => ({ framesPerSec: t.frames / t.wall, framesPerCpuSec: t.frames / t.cpu, mbPerSec: t.bytes / t.wall / 1e6 }))
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
  return dirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.cbor'))
      .sort()
      .map((f) => Uint8Array.from(readFileSync(join(dir, f)))),
  )
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

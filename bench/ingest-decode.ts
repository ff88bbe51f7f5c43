import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { decodeBatch } from '../ingestor/decode-frame.js'
import { RecordJsonScratch, writeEntryJson } from '../protocol/entry-json.js'
import { decodeEvent } from '../protocol/events.js'
import { JsonBytes } from '../protocol/json-bytes.js'
import { isSequenced, toStreamEntry } from '../protocol/stream-entry.js'
import { readFixtureFrames } from '../fixture-file/index.js'
import { benchFixture, flagValue } from './ingest-run.js'
import { median } from './median.js'

/**
 * The decode worker's per-frame work on one thread, interleaved round by round on the same frames:
 * records decoded to objects and the entry JSON.stringify'd (toStreamEntry, then UTF-8 into a
 * buffer: the path before issue 20), records written as JSON straight from their CBOR
 * (protocol/cbor-json.ts, entry-json.ts), and the worker's whole batch (decodeBatch, 500 frames a
 * batch as at max rate) of this build and, with --previous DIR, of another built checkout.
 * CPU µs per frame, min and median over the rounds; ratios per round, then their median.
 *
 * node dist/bench/ingest-decode.js [--rounds N] [--fixture FILE] [--previous DIR]
 */
const argv = process.argv.slice(2)
const rounds = Number(flagValue(argv, '--rounds') ?? 15)
const previous = flagValue(argv, '--previous')
const fixture = await benchFixture(flagValue(argv, '--fixture'))
const frames = await readFixtureFrames(fixture.path)
const out = new JsonBytes(1 << 20)
const scratch = new RecordJsonScratch()
const packed = Buffer.concat(frames)
const offsets = [0]
for (const frame of frames) offsets.push(offsets[offsets.length - 1]! + frame.byteLength)
/** Frames per decodeBatch call: the pipeline's batchSize default, what a worker gets at max rate. */
const BATCH_FRAMES = 500

type DecodeBatch = typeof decodeBatch
/** A candidate that runs every frame through `decode`, BATCH_FRAMES at a time: at each BATCH_FRAMES-th frame, that whole batch. */
const batches =
  (decode: DecodeBatch) =>
  (_frame: Uint8Array, index: number): void => {
    if (index % BATCH_FRAMES !== 0) return
    decode(packed, offsets.slice(index, Math.min(index + BATCH_FRAMES, frames.length) + 1), { verifyBlocks: 'all' })
  }

const candidates: [string, (frame: Uint8Array, index: number) => void][] = [
  [
    'records as objects + JSON.stringify',
    (frame) => {
      const event = decodeEvent(frame)
      out.length = 0
      if (isSequenced(event)) out.utf8(toStreamEntry(event).data)
    },
  ],
  [
    'records transcoded + writeEntryJson',
    (frame) => {
      scratch.reset()
      const event = decodeEvent(frame, { recordJson: scratch.record })
      out.length = 0
      if (isSequenced(event)) writeEntryJson(event, out, scratch)
    },
  ],
  ['decodeBatch, this build', batches(decodeBatch)],
]
if (previous !== undefined) {
  const module = (await import(pathToFileURL(join(previous, 'dist/ingestor/decode-frame.js')).href)) as { decodeBatch: DecodeBatch }
  candidates.push([`decodeBatch, ${previous}`, batches(module.decodeBatch)])
}
const perFrame = candidates.map((): number[] => [])
for (let round = 0; round < rounds; round++) {
  // Alternate the order so none always runs first.
  const order = candidates.map((_, i) => i)
  if (round % 2 === 1) order.reverse()
  for (const i of order) {
    const run = candidates[i]![1]
    const start = process.cpuUsage()
    for (let f = 0; f < frames.length; f++) run(frames[f]!, f)
    const used = process.cpuUsage(start)
    perFrame[i]!.push((used.user + used.system) / frames.length)
  }
}
/** The median over rounds of a/b measured in the same round: steadier here than a ratio of medians. */
const roundRatio = (a: number, b: number): string => median(perFrame[a]!.map((value, round) => value / perFrame[b]![round]!)).toFixed(2)
console.log(`${frames.length} frames of ${fixture.path}, ${rounds} rounds`)
candidates.forEach(([name], i) => {
  console.log(`${name.padEnd(40)} min ${Math.min(...perFrame[i]!).toFixed(1)} µs/frame, median ${median(perFrame[i]!).toFixed(1)} µs/frame`)
})
console.log(`transcoded vs objects + JSON.stringify: ${roundRatio(0, 1)}x less CPU per frame (median of per-round ratios)`)
if (previous !== undefined) console.log(`decodeBatch, this build vs ${previous}: ${roundRatio(3, 2)}x less CPU per frame (median of per-round ratios)`)

import { RecordJsonScratch, writeEntryJson } from '../protocol/entry-json.js'
import { decodeEvent } from '../protocol/events.js'
import { JsonBytes } from '../protocol/json-bytes.js'
import { isSequenced, toStreamEntry } from '../protocol/stream-entry.js'
import { readFixtureFrames } from '../fixture-file/index.js'
import { benchFixture, flagValue } from './ingest-run.js'

/**
 * The decode worker's per-frame work on one thread, the two ways an entry's JSON can be made,
 * interleaved round by round on the same frames: records decoded to objects and the entry
 * JSON.stringify'd (toStreamEntry, then UTF-8 into a buffer: the path before issue 20), and
 * records written as JSON straight from their CBOR (protocol/cbor-json.ts, entry-json.ts).
 * CPU µs per frame, min and median over the rounds.
 *
 * node dist/bench/ingest-decode.js [--rounds N] [--fixture FILE]
 */
const argv = process.argv.slice(2)
const rounds = Number(flagValue(argv, '--rounds') ?? 15)
const fixture = await benchFixture(flagValue(argv, '--fixture'))
const frames = await readFixtureFrames(fixture.path)
const out = new JsonBytes(1 << 20)
const scratch = new RecordJsonScratch()

const candidates: [string, (frame: Uint8Array) => void][] = [
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
]
const perFrame = candidates.map((): number[] => [])
for (let round = 0; round < rounds; round++) {
  // Alternate the order so neither always runs first.
  const order = round % 2 === 0 ? [0, 1] : [1, 0]
  for (const i of order) {
    const run = candidates[i]![1]
    const start = process.cpuUsage()
    for (const frame of frames) run(frame)
    const used = process.cpuUsage(start)
    perFrame[i]!.push((used.user + used.system) / frames.length)
  }
}
console.log(`${frames.length} frames of ${fixture.path}, ${rounds} rounds`)
const medians = perFrame.map((values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!)
candidates.forEach(([name], i) => {
  console.log(`${name.padEnd(40)} min ${Math.min(...perFrame[i]!).toFixed(1)} µs/frame, median ${medians[i]!.toFixed(1)} µs/frame`)
})
console.log(`median ratio: ${(medians[0]! / medians[1]!).toFixed(2)}x less CPU per frame transcoded`)

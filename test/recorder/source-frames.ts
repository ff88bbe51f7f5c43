import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { withSeq } from '../../replay/index.js'
import { FixtureWriter, openFixture, type FixtureFrame, type FixtureManifest, type FixtureReader } from '../../fixture-file/index.js'

import { REAL_DATA } from '../shared-data.js'

/** Every real wire frame in test/data/real, in a stable order. */
export function realFrames(): Uint8Array[] {
  const dirs = [join(REAL_DATA, 'indigo-prod-commits/frames')]
  const scenarios = join(REAL_DATA, 'indigo-relay-scenarios')
  for (const name of readdirSync(scenarios).sort()) {
    if (!name.endsWith('.json')) dirs.push(join(scenarios, name, 'frames'))
  }
  return dirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((file) => file.endsWith('.cbor'))
      .sort()
      .map((file) => new Uint8Array(readFileSync(join(dir, file)))),
  )
}

/** `count` real frames (cycled) with seqs firstSeq, firstSeq+1, ... (only the seq bytes change). */
export function sequencedFrames(count: number, firstSeq = 1): Uint8Array[] {
  const real = realFrames()
  return Array.from({ length: count }, (_, i) => withSeq(real[i % real.length]!, firstSeq + i))
}

/** Writes frames to a fixture (the "source" a recording is compared with). */
export async function writeFixture(path: string, frames: Uint8Array[]): Promise<void> {
  const writer = await FixtureWriter.create(path, { source: 'test' })
  let timeUs = 1_700_000_000_000_000
  for (const bytes of frames) {
    if (!writer.write({ timeUs: (timeUs += 1000), bytes })) await writer.drain()
  }
  await writer.close()
}

export interface ReadBack {
  frames: FixtureFrame[]
  manifest: FixtureManifest | null
  truncated: boolean
  header: FixtureReader['header']
}

/** Reads a whole fixture (frames copied out of the reader's chunks). */
export async function readFixture(path: string): Promise<ReadBack> {
  const reader = await openFixture(path)
  const frames: FixtureFrame[] = []
  for await (const frame of reader.frames()) frames.push({ timeUs: frame.timeUs, bytes: Uint8Array.from(frame.bytes) })
  const result = { frames, manifest: reader.manifest(), truncated: reader.truncated, header: reader.header }
  await reader.close()
  return result
}

/** Index of the first byte-level difference between two frame lists, or -1 when equal. */
export function firstDifference(actual: Uint8Array[], expected: Uint8Array[]): number {
  const n = Math.max(actual.length, expected.length)
  for (let i = 0; i < n; i++) {
    const a = actual[i]
    const b = expected[i]
    if (a === undefined || b === undefined || !Buffer.from(a).equals(Buffer.from(b))) return i
  }
  return -1
}

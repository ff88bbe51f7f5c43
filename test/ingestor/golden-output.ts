import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { readFixtureFrames } from '../../fixture-file/index.js'
import { peekFrame } from '../../protocol/peek.js'
import { committedFixture, ingestUntil, readStream, realFrameGroups, replay, tempDir, uniqueKeys, writeFixture } from './helpers.js'

export const goldenDir = join(import.meta.dirname, 'golden')
export const realGoldenPath = join(goldenDir, 'real-frames.json')
export const fixtureGoldenPath = join(goldenDir, 'generated-fixture.json')

/** Per folder of test/data/real: its frame files and the exact field lists the ingestor wrote. */
export type RealGolden = Record<string, { files: string[]; entries: string[][] }>
/** For the committed fixture (too big to keep verbatim): seq, type and a sha256 prefix of data per entry. */
export interface FixtureGolden {
  frames: number
  entries: [seq: number, type: string, dataSha256: string][]
}

/** Streams the frames of each real folder through replay -> ingestor -> Redis and returns what landed. */
export async function ingestRealFrames(redisUrl: string): Promise<RealGolden> {
  const temp = tempDir()
  const out: RealGolden = {}
  try {
    for (const group of realFrameGroups()) {
      const path = await writeFixture(join(temp.dir, `${group.name.replaceAll('/', '_')}.fixture`), group.frames)
      out[group.name] = { files: group.files, entries: await ingestFile(path, redisUrl, maxSeq(group.frames)) }
    }
  } finally {
    temp.cleanup()
  }
  return out
}

export async function ingestCommittedFixture(redisUrl: string): Promise<FixtureGolden | null> {
  if (!existsSync(committedFixture)) return null
  const frames = await readFixtureFrames(committedFixture)
  const entries = await ingestFile(committedFixture, redisUrl, maxSeq(frames))
  return {
    frames: frames.length,
    entries: entries.map((f) => [Number(f[5]), f[1]!, createHash('sha256').update(f[3]!).digest('hex').slice(0, 16)]),
  }
}

async function ingestFile(path: string, redisUrl: string, lastSeq: number): Promise<string[][]> {
  const keys = uniqueKeys('test:golden')
  const relay = await replay([path])
  try {
    await ingestUntil({ relayUrl: relay.url, redisUrl, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0 }, lastSeq)
    return await readStream(redisUrl, keys.stream)
  } finally {
    await relay.close()
  }
}

function maxSeq(frames: readonly Uint8Array[]): number {
  return Math.max(...frames.map((bytes) => peekFrame(bytes).seq ?? 0))
}

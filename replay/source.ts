import type { Logger } from '../common/logger.js'
import { FirehoseError } from '../common/firehose-error.js'
import { openFixture, type FixtureManifest } from '../fixture-file/index.js'
import { ReplayError, ReplayErrorCode } from './errors.js'
import { MemorySource } from './memory-source.js'
import { readSeq } from './seq-field.js'
import { StreamingSource } from './streaming-source.js'
import type { FrameSource, SourceFrame } from './frame-source.js'

/** Fixtures up to this many frame bytes in total are kept in memory by default (see docs/replay.md). */
export const DEFAULT_PRELOAD_MAX_BYTES = 256 * 1024 * 1024

export interface LoadedFixtures {
  manifests: FixtureManifest[]
  /** Every frame of every file in order, when they fit in the preload bound; null otherwise. */
  frames: SourceFrame[] | null
}

/**
 * Reads every file completely before the server starts, so a bad path or a corrupt file is a
 * clear start-up error instead of a stream that dies half-way. The same pass keeps the frames
 * in memory when they total at most `preloadMaxBytes` (the timeline then never waits on disk
 * or zlib); larger fixtures are streamed again from disk while playing.
 */
export async function loadFixtures(files: string[], preloadMaxBytes: number, logger: Logger): Promise<LoadedFixtures> {
  if (files.length === 0) throw new ReplayError(ReplayErrorCode.BadFixture, 'no fixture files given')
  const manifests: FixtureManifest[] = []
  let frames: SourceFrame[] | null = []
  let bytes = 0
  for (const file of files) {
    try {
      const reader = await openFixture(file)
      try {
        for await (const frame of reader.frames()) {
          if (frames === null) continue
          bytes += frame.bytes.byteLength
          if (bytes > preloadMaxBytes) {
            frames = null
            logger.info({ preloadMaxBytes }, 'fixtures larger than the preload bound: streaming them from disk')
            continue
          }
          // Reader frames are views into a shared chunk: copy to keep them apart.
          frames.push({ bytes: frame.bytes.slice(), timeUs: frame.timeUs, seq: readSeq(frame.bytes), round: 0 })
        }
        const manifest = reader.manifest()!
        if (!manifest.complete) logger.warn({ file, frames: manifest.frameCount }, 'fixture was cut off mid-write; replaying the frames it has')
        manifests.push(manifest)
      } finally {
        await reader.close()
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      const fixtureCode = err instanceof FirehoseError ? (err as FirehoseError).code : undefined
      throw new ReplayError(ReplayErrorCode.BadFixture, `fixture ${file}: ${reason}`, { file, fixtureCode }, { cause: err })
    }
  }
  return { manifests, frames }
}

/** The source for these files: from memory when preloaded, else streamed from disk. */
export function openSource(files: string[], loaded: LoadedFixtures, loop: boolean, logger: Logger): FrameSource {
  return loaded.frames !== null ? new MemorySource(loaded.frames, loop) : new StreamingSource(files, loop, logger)
}

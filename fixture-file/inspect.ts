import { stat } from 'node:fs/promises'
import { decodeEvent } from '../protocol/events.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import type { FixtureGap, FixtureHeader, FixtureManifest } from '../protocol/fixture/format.js'
import { frameType } from '../protocol/fixture/manifest-builder.js'
import { openFixture } from './reader.js'
import { SizeHistogram, type SizeSummary } from '../protocol/fixture/size-histogram.js'

/** At most this many seq jumps are listed (all are counted). */
const MAX_LISTED_JUMPS = 100

export interface SeqJump {
  afterSeq: number
  beforeSeq: number
  /** Seqs between the two that no frame carries. Relays skip seqs, so jumps are normal in live recordings. */
  missing: number
}

export interface CollectionCounts {
  create: number
  update: number
  delete: number
}

export interface FixtureInspection {
  path: string
  fileBytes: number
  header: FixtureHeader
  /** The stored manifest, or the one rebuilt from the frames when the file was cut off. */
  manifest: FixtureManifest
  truncated: boolean
  countsByType: Record<string, number>
  /** Commit ops per collection (the NSID before the first `/` of each op path). */
  collections: Record<string, CollectionCounts>
  /** Commit frames decodeEvent rejected, by error code (they are not in `collections`). */
  commitDecodeErrors: Record<string, number>
  sizes: SizeSummary | null
  seq: {
    first: number | null
    last: number | null
    /** Frames without a seq (#info, error frames, invalid frames). */
    framesWithoutSeq: number
    /** Frames whose seq is not above the one before. */
    outOfOrder: number
    jumps: { count: number; missingTotal: number; largest: SeqJump | null; listed: SeqJump[] }
  }
  /** Gaps the recorder reported (from the manifest), except a start from cursor 0 (see isStartFromCursorZero). */
  reportedGaps: FixtureGap[]
}

/** Reads a whole fixture once (constant memory) and summarises it. Throws FixtureError on corruption. */
export async function inspectFixture(path: string): Promise<FixtureInspection> {
  const reader = await openFixture(path)
  const fileBytes = (await stat(path)).size
  const sizes = new SizeHistogram()
  const countsByType: Record<string, number> = {}
  const collections: Record<string, CollectionCounts> = {}
  const commitDecodeErrors: Record<string, number> = {}
  const seq: FixtureInspection['seq'] = {
    first: null,
    last: null,
    framesWithoutSeq: 0,
    outOfOrder: 0,
    jumps: { count: 0, missingTotal: 0, largest: null, listed: [] },
  }
  try {
    for await (const { bytes } of reader.frames()) {
      sizes.add(bytes.length)
      const { type, seq: frameSeq } = frameType(bytes)
      countsByType[type] = (countsByType[type] ?? 0) + 1
      if (type === '#commit') countCollections(bytes, collections, commitDecodeErrors)
      if (frameSeq === undefined) seq.framesWithoutSeq++
      else addSeq(seq, frameSeq)
    }
  } finally {
    await reader.close()
  }
  return {
    path,
    fileBytes,
    header: reader.header,
    manifest: reader.manifest()!,
    truncated: reader.truncated,
    countsByType,
    collections,
    commitDecodeErrors,
    sizes: sizes.summary(),
    seq,
    reportedGaps: reader.manifest()!.gaps.filter((gap) => !isStartFromCursorZero(gap)),
  }
}

/**
 * Cursor 0 asks for everything the relay holds, so a recording from it missed nothing before its
 * first seq; older recorders still reported that start as a gap `0 -> first seq`.
 */
function isStartFromCursorZero(gap: FixtureGap): boolean {
  return gap.afterSeq <= 0
}

function countCollections(bytes: Uint8Array, collections: Record<string, CollectionCounts>, errors: Record<string, number>): void {
  try {
    const event = decodeEvent(bytes)
    if (event.type !== 'commit') return
    for (const op of event.ops) {
      const collection = op.path.split('/')[0] ?? op.path
      const counts = (collections[collection] ??= { create: 0, update: 0, delete: 0 })
      if (op.action === 'create' || op.action === 'update' || op.action === 'delete') counts[op.action]++
    }
  } catch (err) {
    if (!isFrameDecodeError(err)) throw err
    errors[err.code] = (errors[err.code] ?? 0) + 1
  }
}

function addSeq(state: FixtureInspection['seq'], seq: number): void {
  const previous = state.last
  state.first ??= seq
  state.last = seq
  if (previous === null) return
  if (seq <= previous) {
    state.outOfOrder++
    return
  }
  if (seq === previous + 1) return
  const jump: SeqJump = { afterSeq: previous, beforeSeq: seq, missing: seq - previous - 1 }
  const jumps = state.jumps
  jumps.count++
  jumps.missingTotal += jump.missing
  if (jumps.largest === null || jump.missing > jumps.largest.missing) jumps.largest = jump
  if (jumps.listed.length < MAX_LISTED_JUMPS) jumps.listed.push(jump)
}

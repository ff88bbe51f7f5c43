import type { BlockVerification } from '../protocol/car.js'
import { isFrameDecodeError } from '../protocol/errors.js'
import { decodeEvent } from '../protocol/events.js'
import { isSequenced, toStreamEntry, type StreamEntry } from '../protocol/stream-entry.js'
import { IngestorErrorCode } from './errors.js'

/** What the decoder made of one frame; plain data so it crosses the worker boundary by structured clone. */
export type DecodeResult =
  | { kind: 'entry'; entry: StreamEntry; /** event `time` in ms since epoch, for lag; null if unparseable */ timeMs: number | null }
  /** A frame that is not published: unknown/deprecated `t` (and #info/error if one got here). */
  | { kind: 'skip'; t: string; seq: number | null }
  /** Malformed: goes to the dead-letter stream with its raw bytes. */
  | { kind: 'bad'; seq: number | null; code: string; message: string }

export interface DecodeSettings {
  verifyBlocks: BlockVerification
}

/** One frame to its stream entry. Never throws: every failure becomes a `bad` result. */
export function decodeToResult(bytes: Uint8Array, settings: DecodeSettings): DecodeResult {
  try {
    const event = decodeEvent(bytes, { verifyBlocks: settings.verifyBlocks })
    if (isSequenced(event)) {
      const timeMs = Date.parse(event.time)
      return { kind: 'entry', entry: toStreamEntry(event), timeMs: Number.isNaN(timeMs) ? null : timeMs }
    }
    if (event.type === 'unknown') return { kind: 'skip', t: event.t, seq: event.seq }
    return { kind: 'skip', t: event.type === 'info' ? '#info' : 'error', seq: null }
  } catch (err) {
    if (isFrameDecodeError(err)) return { kind: 'bad', seq: err.seq ?? null, code: err.code, message: err.message }
    // Our own bug on upstream input must not stop ingestion: quarantine the frame like garbage.
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
    return { kind: 'bad', seq: null, code: IngestorErrorCode.DecodeInternal, message }
  }
}

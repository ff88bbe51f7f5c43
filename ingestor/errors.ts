import { FirehoseError } from '../common/firehose-error.js'

export const IngestorErrorCode = {
  /**
   * An option given to startIngestor() is out of range or malformed (fields: option, value,
   * reason; a bound also min and max, a bound set by another option minOption).
   */
  InvalidOption: 'INGESTOR_INVALID_OPTION',
  /** FIREHOSE_CRASH_AT is not `<point>:<n>` with a known point. */
  InvalidCrashPoint: 'INGESTOR_INVALID_CRASH_POINT',
  /** The decode worker thread died or could not start (fields: reason). */
  DecodeWorkerFailed: 'INGESTOR_DECODE_WORKER_FAILED',
  /** The cursor key holds something that is not a seq (fields: key, raw); the ingestor will not guess. */
  BadStoredCursor: 'INGESTOR_BAD_STORED_CURSOR',
  /** A frame failed in our own code (not the codec): quarantined like a malformed frame. */
  DecodeInternal: 'INGESTOR_DECODE_INTERNAL',
  /** startCursor differs from the cursor already stored and forceCursor is not set (fields: key, stored, start). */
  CursorConflict: 'INGESTOR_CURSOR_CONFLICT',
  /** A write would have moved the stored cursor backwards; the write script refused it (fields: stored, next). Our bug: nothing was written. */
  CursorBackwards: 'INGESTOR_CURSOR_BACKWARDS',
  /** The write script refused its own arguments (fields: reason). Our bug: nothing was written. */
  BadScriptArguments: 'INGESTOR_BAD_SCRIPT_ARGUMENTS',
} as const
export type IngestorErrorCode = (typeof IngestorErrorCode)[keyof typeof IngestorErrorCode]

export class IngestorError extends FirehoseError<IngestorErrorCode> {}

/** Redis refusing the ingestor's configuration (and a bad Redis URL): shared with every Redis user of the package. */
export { RedisConfigError, RedisConfigErrorCode } from '../common/redis-config-error.js'

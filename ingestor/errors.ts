import { FirehoseError } from '../protocol/errors.js'

export const IngestorErrorCode = {
  /** An option given to startIngestor() is out of range or malformed (fields: option, value). */
  InvalidOption: 'INGESTOR_INVALID_OPTION',
  /** FIREHOSE_CRASH_AT is not `<point>:<n>` with a known point. */
  InvalidCrashPoint: 'INGESTOR_INVALID_CRASH_POINT',
  /** The decode worker thread died or could not start (fields: reason). */
  DecodeWorkerFailed: 'INGESTOR_DECODE_WORKER_FAILED',
  /** The cursor key holds something that is not a seq (fields: key, raw); the ingestor will not guess. */
  BadStoredCursor: 'INGESTOR_BAD_STORED_CURSOR',
  /** A frame failed in our own code (not the codec): quarantined like a malformed frame. */
  DecodeInternal: 'INGESTOR_DECODE_INTERNAL',
} as const
export type IngestorErrorCode = (typeof IngestorErrorCode)[keyof typeof IngestorErrorCode]

export class IngestorError extends FirehoseError<IngestorErrorCode> {}

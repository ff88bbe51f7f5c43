import { FirehoseError } from '../common/firehose-error.js'

export const StreamCheckErrorCode = {
  /** The check was asked something it cannot do (several URLs without a cluster, expected entries that are not JSON). */
  InvalidInput: 'STREAM_CHECK_INVALID_INPUT',
} as const
export type StreamCheckErrorCode = (typeof StreamCheckErrorCode)[keyof typeof StreamCheckErrorCode]

/** A stream check (verify, compare, the testing entry) could not run: its inputs, not the stream, are wrong. */
export class StreamCheckError extends FirehoseError<StreamCheckErrorCode> {}

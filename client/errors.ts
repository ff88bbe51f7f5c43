import { FirehoseError } from '../common/firehose-error.js'

export const RelayClientErrorCode = {
  /** A relay address that is not a ws(s)/http(s) URL or a plausible host (fields: value, reason). */
  RelayUrl: 'RELAY_URL',
} as const
export type RelayClientErrorCode = (typeof RelayClientErrorCode)[keyof typeof RelayClientErrorCode]

/** The relay client was given something it cannot connect to; connection faults are retried, not thrown. */
export class RelayClientError extends FirehoseError<RelayClientErrorCode> {}

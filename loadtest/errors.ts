import { FirehoseError } from '../common/firehose-error.js'

export const LoadtestErrorCode = {
  /** A flag value the load test cannot use (rate, profile, duration): exit 2. */
  BadInput: 'LOADTEST_BAD_INPUT',
  /** Redis, the replay server or the ingestor child failed around the test: exit 3. */
  Infrastructure: 'LOADTEST_INFRASTRUCTURE',
} as const
export type LoadtestErrorCode = (typeof LoadtestErrorCode)[keyof typeof LoadtestErrorCode]

export class LoadtestError extends FirehoseError<LoadtestErrorCode> {}

export function badInput(message: string, fields: Record<string, unknown> = {}): LoadtestError {
  return new LoadtestError(LoadtestErrorCode.BadInput, message, fields)
}

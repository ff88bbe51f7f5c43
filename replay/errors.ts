import { FirehoseError } from '../common/firehose-error.js'

export const ReplayErrorCode = {
  /** An option or a runtime control request is invalid. */
  BadOption: 'REPLAY_BAD_OPTION',
  /** A fault spec or fault plan file is invalid. */
  BadFault: 'REPLAY_BAD_FAULT',
  /** A fixture file is missing or corrupt (checked before the server starts). */
  BadFixture: 'REPLAY_BAD_FIXTURE',
  /** A control request body over the size limit. */
  BodyTooLarge: 'REPLAY_BODY_TOO_LARGE',
  /** getRepo cannot export a repo: blocks of it are in no published frame (the fixture does not start at its creation). */
  RepoUnexportable: 'REPLAY_REPO_UNEXPORTABLE',
} as const
export type ReplayErrorCode = (typeof ReplayErrorCode)[keyof typeof ReplayErrorCode]

export class ReplayError extends FirehoseError<ReplayErrorCode> {}

import { FirehoseError } from '../common/firehose-error.js'

/** Codes of the backfill stage (listing repos, asking the ingestor for them). Callers branch on these, never on message text. */
export const BackfillErrorCode = {
  /** The listing server answered with a status other than 200 (its XRPC error name in the message when it gave one). */
  ListStatus: 'BACKFILL_LIST_STATUS',
  /** The listing answer is not the lexicon's JSON (not JSON, no `repos` array, a repo without a DID, a cursor that does not move). */
  ListBadAnswer: 'BACKFILL_LIST_BAD_ANSWER',
  /** The DIDs file cannot be read, or a line of it is not a DID. */
  BadDidList: 'BACKFILL_BAD_DID_LIST',
  /** Redis holds a backfill of another selection on these keys (restart it with --restart, or pick the same selection). */
  OtherSelection: 'BACKFILL_OTHER_SELECTION',
} as const

export type BackfillErrorCode = (typeof BackfillErrorCode)[keyof typeof BackfillErrorCode]

export interface BackfillFields {
  url?: string
  status?: number
  line?: number
  stored?: string
  [key: string]: unknown
}

/** The backfill stage's error: a stable `code`, typed `fields`, the underlying error as `cause`. */
export class BackfillError extends FirehoseError<BackfillErrorCode> {
  declare readonly fields: Readonly<BackfillFields>

  constructor(code: BackfillErrorCode, message: string, fields: BackfillFields = {}, options?: { cause?: unknown }) {
    super(code, message, fields, options)
  }
}

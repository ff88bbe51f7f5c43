import { FirehoseError } from '../../common/firehose-error.js'

/**
 * Why --verify refused a frame: the dead-letter `code` of frames that decode but do not prove
 * they come from the account (docs/verify.md). Stable: dashboards and alerts key on them.
 */
export const VerifyErrorCode = {
  /** The commit's `sig` does not verify with the account's #atproto key (also after re-resolving the DID once). */
  BadSignature: 'VERIFY_BAD_SIGNATURE',
  /** The signed commit names another DID than the frame's `repo` (#commit) or `did` (#sync). */
  DidMismatch: 'VERIFY_DID_MISMATCH',
  /** The commit block is missing, not the CAR root, not a v3 commit, or its rev differs from the frame's. */
  BadCommit: 'VERIFY_BAD_COMMIT',
  /** An op is not proven by the CAR's MST blocks against the signed `data` root, or the ops do not invert to `prevData`. */
  BadProof: 'VERIFY_BAD_PROOF',
  /** The DID has no document (404, unsupported method, malformed) or no usable #atproto key. */
  DidUnresolved: 'VERIFY_DID_UNRESOLVED',
  /** The DID's did:web host did not answer usably (timeout, network error, 5xx) after retries. */
  DidUnavailable: 'VERIFY_DID_UNAVAILABLE',
  /** Our own verification code failed on this frame (a bug, not the frame's fault): quarantined like a bad frame rather than stopping ingestion. */
  Internal: 'VERIFY_INTERNAL',
} as const
export type VerifyErrorCode = (typeof VerifyErrorCode)[keyof typeof VerifyErrorCode]

export class VerifyError extends FirehoseError<VerifyErrorCode> {}

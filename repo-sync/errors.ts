import { FirehoseError } from '../common/firehose-error.js'

/** Codes of the per-repo sync stage (state, rules, resync). Callers branch on these, never on message text. */
export const RepoSyncErrorCode = {
  /** A rev that is not a TID where a TID is required (a stored rev, a snapshot's rev). */
  BadRev: 'REPO_SYNC_BAD_REV',
  /** Bytes that are not an encoded RepoState, or a RepoState that cannot be encoded. */
  BadState: 'REPO_SYNC_BAD_STATE',
  /** A resync step taken from a sync state it does not start from (a caller's bug, not upstream's). */
  BadTransition: 'REPO_SYNC_BAD_TRANSITION',

  // Fetching a repository (repo-fetcher.ts; docs/repo-sync.md, "Fetching a repository").
  /** The DID has no usable document (malformed, unsupported method, 404), no #atproto_pds service, or (verify) no #atproto key. */
  DidUnresolved: 'REPO_SYNC_DID_UNRESOLVED',
  /** A URL that is not http(s), or a PDS endpoint that is not a usable URL. */
  BadUrl: 'REPO_SYNC_BAD_URL',
  /** The host resolves to a private, loopback, link-local, unique-local, multicast, CGNAT or unspecified address (host-guard.ts). */
  PrivateHost: 'REPO_SYNC_PRIVATE_HOST',
  /** The host does not resolve, refuses the connection or drops it before answering. */
  Unreachable: 'REPO_SYNC_UNREACHABLE',
  /** No answer, or no bytes, within the deadline (`fields.phase`: `total` or `idle`). */
  Timeout: 'REPO_SYNC_TIMEOUT',
  /** 429: the host is paused until `fields.retryAtMs` (RateLimit-Reset or Retry-After). */
  RateLimited: 'REPO_SYNC_RATE_LIMITED',
  /** An answer other than 200 that names no known XRPC error (`fields.status`). */
  HttpStatus: 'REPO_SYNC_HTTP_STATUS',
  /** 404, or XRPC RepoNotFound. */
  NotFound: 'REPO_SYNC_NOT_FOUND',
  /** XRPC RepoTakendown. */
  Takendown: 'REPO_SYNC_TAKENDOWN',
  /** XRPC RepoSuspended. */
  Suspended: 'REPO_SYNC_SUSPENDED',
  /** XRPC RepoDeactivated. */
  Deactivated: 'REPO_SYNC_DEACTIVATED',
  /** Over `maxRepoBytes` (by Content-Length, or counted while streaming). */
  TooLarge: 'REPO_SYNC_TOO_LARGE',
  /** The body ended (or the connection closed) in the middle of the CAR. */
  Truncated: 'REPO_SYNC_TRUNCATED',
  /** Not a CAR v1: its header, a section's framing, an unsupported CID, a block over the size limit. */
  BadCar: 'REPO_SYNC_BAD_CAR',
  /** A block does not hash to its CID. */
  BadBlock: 'REPO_SYNC_BAD_BLOCK',
  /** The CAR's single root is absent, missing from the CAR, or not a v3 repo commit. */
  NotCommit: 'REPO_SYNC_NOT_COMMIT',
  /** The commit is another DID's. */
  WrongDid: 'REPO_SYNC_WRONG_DID',
  /** (verify) The commit's signature does not verify with the DID's #atproto key. */
  BadSignature: 'REPO_SYNC_BAD_SIGNATURE',
  /** The MST does not walk from the commit's `data`: a node or record missing, a malformed node, keys out of order or at the wrong layer. */
  Mst: 'REPO_SYNC_MST',
  /** A record's bytes (hashed to its CID) are not DAG-CBOR the data model can carry (`fields.path`, `fields.cid`): found while publishing a snapshot (snapshot-parts.ts). */
  BadRecord: 'REPO_SYNC_BAD_RECORD',
  /** The spill file could not be written or read (local disk). */
  Spill: 'REPO_SYNC_SPILL',
  /** More fetches waiting than the limiter's `maxWaiting`: refused, retry later. */
  QueueFull: 'REPO_SYNC_QUEUE_FULL',
  /** The repo failed recently and its backoff has not run out (`fields.retryAtMs`). */
  Backoff: 'REPO_SYNC_BACKOFF',
  /** The caller's AbortSignal fired. */
  Aborted: 'REPO_SYNC_ABORTED',
} as const
export type RepoSyncErrorCode = (typeof RepoSyncErrorCode)[keyof typeof RepoSyncErrorCode]

/** Context a RepoSyncError may carry, for logs, metrics and retry decisions. */
export interface RepoSyncFields {
  did?: string
  url?: string
  /** host[:port] of the request. */
  host?: string
  /** HTTP status. */
  status?: number
  /** XRPC error name of a 4xx/5xx answer (`RepoNotFound`...). */
  xrpcError?: string
  /** When the host or repo may be asked again (epoch ms). */
  retryAtMs?: number
  /** The resolved address a guard refused, and its range's name. */
  address?: string
  range?: string
  /** Bytes received when a limit or an error stopped the fetch, and the limit. */
  bytes?: number
  limitBytes?: number
  timeoutMs?: number
  phase?: 'total' | 'idle'
  /** The block concerned (base32). */
  cid?: string
  /** The DID the commit names (WRONG_DID). */
  commitDid?: string
  [key: string]: unknown
}

/** The per-repo sync stage's error: a stable `code`, typed `fields`, the underlying error as `cause`. */
export class RepoSyncError extends FirehoseError<RepoSyncErrorCode> {
  declare readonly fields: Readonly<RepoSyncFields>

  constructor(code: RepoSyncErrorCode, message: string, fields: RepoSyncFields = {}, options?: { cause?: unknown }) {
    super(code, message, fields, options)
  }
}

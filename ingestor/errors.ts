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
  /** startCursor differs from the cursor already stored and forceCursor is not set (fields: key, stored, start). */
  CursorConflict: 'INGESTOR_CURSOR_CONFLICT',
  /** A write would have moved the stored cursor backwards; the write script refused it (fields: stored, next). Our bug: nothing was written. */
  CursorBackwards: 'INGESTOR_CURSOR_BACKWARDS',
  /** The write script refused its own arguments (fields: reason). Our bug: nothing was written. */
  BadScriptArguments: 'INGESTOR_BAD_SCRIPT_ARGUMENTS',
} as const
export type IngestorErrorCode = (typeof IngestorErrorCode)[keyof typeof IngestorErrorCode]

export class IngestorError extends FirehoseError<IngestorErrorCode> {}

/**
 * Redis refused this ingestor's configuration: retrying cannot help, so the ingestor stops and
 * the CLI exits with ExitCode.Config (docs/ingestor.md, "Redis connection"). Messages never hold
 * the password (URLs in them are redacted).
 */
export const RedisConfigErrorCode = {
  /** The URL is not a usable redis:// or rediss:// URL (fields: reason). */
  Url: 'REDIS_URL',
  /** WRONGPASS or NOAUTH: wrong or missing user/password. */
  Auth: 'REDIS_AUTH',
  /** NOPERM: the ACL user may not run a command the ingestor needs or touch its keys. */
  NoPerm: 'REDIS_NOPERM',
  /** The URL's /N database does not exist on the server (fields: db). */
  DbRange: 'REDIS_DB_RANGE',
  /** TLS set-up failed: an unreadable CA/cert/key file, TLS options on a redis:// URL, or a certificate the server or we rejected. */
  Tls: 'REDIS_TLS',
  /** A key the ingestor uses holds another type (fields: key, type, expected): e.g. the stream key holds a string. */
  WrongType: 'REDIS_WRONGTYPE',
} as const
export type RedisConfigErrorCode = (typeof RedisConfigErrorCode)[keyof typeof RedisConfigErrorCode]

export class RedisConfigError extends FirehoseError<RedisConfigErrorCode> {}

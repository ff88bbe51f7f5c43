import { FirehoseError } from './firehose-error.js'

/**
 * Redis refused a configuration, or a Redis URL cannot be used: retrying cannot help. The
 * ingestor stops on one and the CLI exits with ExitCode.Config (docs/ingestor.md, "Redis
 * connection"); a malformed URL is refused before anything connects (redis-target.ts). Messages
 * never hold the password (URLs in them are redacted).
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

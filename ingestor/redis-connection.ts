import { Cluster, Redis } from 'ioredis'
import type { RedisClient } from '../common/redis-client.js'
import { clusterSeeds, redisTarget, type RedisTlsOptions } from '../common/redis-target.js'
import { RedisConfigError, RedisConfigErrorCode } from './errors.js'

export type { RedisClient } from '../common/redis-client.js'

/** How long a closing connection waits for the server to close its side before the socket is destroyed. */
const DISCONNECT_TIMEOUT_MS = 200

/** Connection behaviour shared by both kinds (no offline queue, no resend: see redis-sink.ts). */
export interface RedisClientSettings {
  tls?: RedisTlsOptions
  connectionName: string
  /** Delay before reconnect attempt `times` (1-based). */
  retryDelayMs: (times: number) => number
}

/**
 * A Redis connection for `url`, or with `cluster` a Redis Cluster client seeded by that node (it
 * discovers the others from CLUSTER SLOTS and follows MOVED/ASK redirections). The URL is
 * checked by common/redis-target.ts: a malformed one, or a /N database on a cluster, throws
 * RedisConfigError before anything connects.
 */
export function createRedisClient(url: string, cluster: boolean, settings: RedisClientSettings): { client: RedisClient; db: number } {
  const target = redisTarget(url, settings.tls)
  // disconnectTimeout: a closed connection waits this long (ioredis: 2 s) for the server's side
  // to close before destroying the socket; that wait kept a stopped process alive after a fatal error.
  const common = { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, connectionName: settings.connectionName, disconnectTimeout: DISCONNECT_TIMEOUT_MS }
  if (!cluster) {
    return { client: new Redis({ ...target.options, ...common, retryStrategy: settings.retryDelayMs }), db: target.db }
  }
  const seeds = clusterSeeds([target])
  const client = new Cluster(seeds.nodes, {
    redisOptions: { ...seeds.nodeOptions, connectionName: settings.connectionName, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, disconnectTimeout: DISCONNECT_TIMEOUT_MS },
    enableOfflineQueue: false,
    clusterRetryStrategy: settings.retryDelayMs,
    // The ready check is CLUSTER INFO, one more ACL permission, and a refusal of it is retried
    // silently forever; a failing cluster answers CLUSTERDOWN to the writes, which are retried.
    enableReadyCheck: false,
  })
  return { client, db: 0 }
}

/** Certificate verification failures Node reports by OpenSSL name (tls.TLSSocket authorizationError codes). */
const CERT_ERROR_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
])

/**
 * The configuration error behind a Redis reply or connection error, or null for errors worth
 * retrying (connection refused, reset, timeouts, LOADING, ...).
 */
export function redisConfigError(err: unknown, db?: number): RedisConfigError | null {
  if (err instanceof RedisConfigError) return err
  if (!(err instanceof Error)) return null
  // OpenSSL messages end in a newline; the reason is printed as one line.
  const message = err.message.replace(/\s+/g, ' ').trim()
  const code = (err as NodeJS.ErrnoException).code ?? ''
  if (/^(WRONGPASS|NOAUTH)\b/.test(message)) {
    return new RedisConfigError(RedisConfigErrorCode.Auth, `Redis refused the credentials: ${message} (check the user and password in the Redis URL)`, {}, { cause: err })
  }
  // Inside the write script Redis reports a missing permission as an ERR, not NOPERM.
  if (/^NOPERM\b/.test(message) || message.includes("The user executing the script can't")) {
    return new RedisConfigError(RedisConfigErrorCode.NoPerm, `the Redis user lacks a permission the ingestor needs: ${message} (see docs/ingestor.md for the ACL)`, {}, { cause: err })
  }
  // A key of ours holding another type (the scripts name it first: refusal.ts; this is any other command).
  if (/\bWRONGTYPE\b/.test(message)) {
    return new RedisConfigError(RedisConfigErrorCode.WrongType, `a Redis key the ingestor uses holds another type: ${message} (choose other keys with --stream / --cursor-key, or delete it)`, {}, { cause: err })
  }
  if (message.includes('DB index is out of range')) {
    const which = db === undefined ? 'the URL database' : `database ${db}`
    return new RedisConfigError(RedisConfigErrorCode.DbRange, `${which} does not exist on this Redis server (its "databases" setting is lower): ${message}`, { db }, { cause: err })
  }
  if (CERT_ERROR_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return new RedisConfigError(RedisConfigErrorCode.Tls, `TLS connection to Redis failed: ${message} [${code}]`, { tlsCode: code }, { cause: err })
  }
  return null
}

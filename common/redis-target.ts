import { readFileSync } from 'node:fs'
import type { RedisOptions } from 'ioredis'
import { quoteValue } from './logger.js'
import { RedisConfigError, RedisConfigErrorCode } from './redis-config-error.js'

/** Client-side TLS for a rediss:// URL; files are PEM. Without caFile, Node's bundled CAs are trusted. */
export interface RedisTlsOptions {
  caFile?: string
  certFile?: string
  keyFile?: string
  /** SNI name and the name the server certificate must carry (default: the URL's host). */
  servername?: string
}

/** Where and as whom to connect: the part of ioredis' options a Redis URL (plus TLS files) decides. */
export type RedisTargetOptions = Pick<RedisOptions, 'host' | 'port' | 'username' | 'password' | 'db' | 'tls'>

/** A Redis URL, checked and parsed: every connection of the package is built from one (ioredis never sees the URL). */
export interface RedisTarget {
  /** The URL as given; quote it with quoteValue() or redactUrl(), it may hold a password. */
  url: string
  options: RedisTargetOptions
  db: number
}

/**
 * Turns a redis:// or rediss:// URL (plus TLS files) into ioredis options, or throws
 * RedisConfigError (REDIS_URL, REDIS_TLS). Parsed here rather than by ioredis so that a
 * malformed URL or db index fails before any connection instead of being coerced (ioredis would
 * connect `/abc` or `/99` to db 0, and read query parameters as options).
 */
export function redisTarget(url: string, tls: RedisTlsOptions = {}): RedisTarget {
  const bad = (reason: string): never => {
    throw new RedisConfigError(RedisConfigErrorCode.Url, `bad Redis URL ${quoteValue(url)}: ${reason}`, { reason })
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return bad('not a URL')
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') bad(`expected redis:// or rediss://, got ${parsed.protocol}//`)
  if (parsed.hostname === '') bad('no host')
  if (parsed.search !== '' || parsed.hash !== '') bad('query parameters and fragments are not supported (use the --redis-* flags)')
  const path = parsed.pathname.replace(/^\//, '')
  // The URL is quoted as given in the message; its parsed path would be percent-encoded.
  if (path !== '' && !/^\d{1,9}$/.test(path)) bad('the path must be a database number (/0, /1, ...)')
  const db = path === '' ? 0 : Number(path)
  const options: RedisTargetOptions = {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    db,
  }
  try {
    if (parsed.username !== '') options.username = decodeURIComponent(parsed.username)
    if (parsed.password !== '') options.password = decodeURIComponent(parsed.password)
  } catch {
    bad('the user or password holds a malformed %-escape')
  }

  const given = Object.entries(tls).filter(([, value]) => value !== undefined)
  if (parsed.protocol === 'redis:') {
    if (given.length > 0) {
      throw new RedisConfigError(RedisConfigErrorCode.Tls, `TLS options (${given.map(([key]) => key).join(', ')}) need a rediss:// URL, got ${quoteValue(url)}`, {})
    }
    return { url, options, db }
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new RedisConfigError(RedisConfigErrorCode.Tls, 'a client certificate needs both its cert and key file', {})
  }
  options.tls = {
    ...(tls.caFile !== undefined ? { ca: readPem(tls.caFile, 'CA') } : {}),
    ...(tls.certFile !== undefined ? { cert: readPem(tls.certFile, 'client certificate') } : {}),
    ...(tls.keyFile !== undefined ? { key: readPem(tls.keyFile, 'client key') } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  }
  return { url, options, db }
}

/** The seed nodes of a Redis Cluster, and the credentials and TLS of every node connection. */
export interface ClusterSeeds {
  nodes: { host: string; port: number }[]
  /** For ioredis' `redisOptions`: nodes found through CLUSTER SLOTS are bare host:port, so they get the first seed's. */
  nodeOptions: Pick<RedisOptions, 'username' | 'password' | 'tls'>
}

/**
 * The seeds of a cluster client. A cluster has only database 0, so a URL naming another is
 * refused (REDIS_URL) rather than silently ignored.
 */
export function clusterSeeds(targets: readonly RedisTarget[]): ClusterSeeds {
  const first = targets[0]
  if (first === undefined) throw new TypeError('clusterSeeds needs at least one seed')
  for (const target of targets) {
    if (target.db !== 0) {
      throw new RedisConfigError(RedisConfigErrorCode.Url, `bad Redis URL ${quoteValue(target.url)}: a Redis Cluster has only database 0, got /${target.db}`, { reason: 'cluster-db' })
    }
  }
  const { username, password, tls } = first.options
  return {
    nodes: targets.map(({ options }) => ({ host: options.host!, port: options.port! })),
    nodeOptions: { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}), ...(tls !== undefined ? { tls } : {}) },
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new RedisConfigError(RedisConfigErrorCode.Tls, `cannot read the Redis TLS ${what} file ${file}: ${(err as Error).message}`, { file }, { cause: err })
  }
}

import { InvalidArgumentError, Option } from 'commander'
import { quoteValue, redactText } from '../common/logger.js'
import { RedisConfigError } from '../common/redis-config-error.js'
import { redisTarget } from '../common/redis-target.js'
import { RelayClientError } from '../client/errors.js'
import { subscribeReposUrl } from '../client/subscribe-repos-url.js'
import { duplicateRelay } from '../ingestor/relay-endpoints.js'
import { collectionPatternError } from '../ingestor/event-filter.js'

/**
 * Every option's parsing and validation lives here, so each rule is written once.
 * Parsers throw InvalidArgumentError; the CLI turns that into a one-line reason and exit 2.
 * Every flag gets an environment fallback (FIREHOSE_* unless a legacy name is given).
 */

/** Values that switch a boolean flag's environment fallback off (commander would take any value as on). */
const ENV_OFF = new Set(['', '0', 'false', 'no', 'off'])

export function option<T>(flags: string, description: string, env: string, parse?: (value: string) => T, defaultValue?: T): Option {
  const takesValue = /[<[]/.test(flags)
  // FIREHOSE_HA=0 must not mean --ha: a boolean flag's variable is read here, where its value is known.
  const envOff = !takesValue && ENV_OFF.has((process.env[env] ?? '1').trim().toLowerCase())
  const opt = new Option(flags, description)
  if (!envOff) opt.env(env)
  if (parse) opt.argParser((value: string) => parse(value))
  if (defaultValue !== undefined) opt.default(defaultValue)
  return opt
}

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const trimmed = value.trim()
    if (!/^-?\d+$/.test(trimmed)) throw new InvalidArgumentError(`expected an integer, got "${value}"`)
    const n = Number(trimmed)
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got ${value}`)
    }
    return n
  }
}

export function positiveNumber(max = Number.MAX_VALUE): (value: string) => number {
  return (value: string) => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(`expected a positive number up to ${max}, got "${value}"`)
    }
    return n
  }
}

export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"`)
    }
    return value as T
  }
}

/**
 * Commander quotes the rejected value raw in its message ("option '--redis <url>' argument 'VALUE'
 * is invalid.", "... value 'VALUE' from env 'REDIS_URL' is invalid."): a malformed URL would print
 * its password, and a value with a space or a quote is hard to read. The value is requoted by
 * quoteValue (as given, credentials redacted), the rest goes through redactText. The value ends
 * at the first of commander's suffixes: the reason after it is ours.
 */
export function redactUsageError(message: string): string {
  const quoted = /^(.*?(?:argument|value) )'([\s\S]*?)'( (?:from env '[^']*' )?is invalid\b[\s\S]*)$/.exec(message)
  if (quoted === null) return redactText(message)
  return `${quoted[1]!}${quoteValue(quoted[2]!)}${redactText(quoted[3]!)}`
}

/** A non-empty string (Redis key names and the like). */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty')
  return value
}

/** The atproto DID syntax (atproto.com/specs/did), any method: `did:<method>:<identifier>`, at most 2048 characters. */
const DID_SYNTAX = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/
const MAX_DID_LENGTH = 2048

export function did(value: string): string {
  if (value.length > MAX_DID_LENGTH || !DID_SYNTAX.test(value)) throw new InvalidArgumentError(`expected a DID (did:<method>:<identifier>, e.g. did:plc:ewvi7nxzyoun6zhxrhs64oiz), at most ${MAX_DID_LENGTH} characters`)
  return value
}

/** Messages quote the value with its credentials redacted: a URL may carry a password. */
export function url(protocols: readonly string[]): (value: string) => string {
  return (value: string) => {
    let parsed: URL
    try {
      parsed = new URL(value)
    } catch {
      throw new InvalidArgumentError(`not a valid URL: ${quoteValue(value)}`)
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new InvalidArgumentError(`expected a ${protocols.join(' or ')} URL, got "${parsed.protocol}"`)
    }
    return value
  }
}

/** A redis:// or rediss:// URL the ingestor can use as is (a /N db path, no query): checked by the same code that connects. */
export function redisUrl(value: string): string {
  try {
    redisTarget(value)
  } catch (err) {
    if (err instanceof RedisConfigError) throw new InvalidArgumentError(err.message)
    throw err
  }
  return value
}

/** A relay as the client takes it (client/subscribe-repos-url.ts): always the full `.../xrpc/com.atproto.sync.subscribeRepos` URL. */
export function relayUrl(value: string): string {
  try {
    return subscribeReposUrl(value)
  } catch (err) {
    if (err instanceof RelayClientError) throw new InvalidArgumentError(err.message)
    throw err
  }
}

/**
 * A repeatable relay flag (`--relay a --relay b`, or `a,b` in one value or in RELAY_URL), each
 * item as relayUrl() builds it, in order (the first is the primary). The same relay (host[:port])
 * twice is refused: each relay's cursor key is named after it (ingestor/relay-failover.ts).
 */
export function relayList(value: string, previous: string[] | undefined): string[] {
  const relays = [...(previous ?? []), ...list(() => null)(value).map(relayUrl)]
  const twice = duplicateRelay(relays)
  if (twice !== null) throw new InvalidArgumentError(`relay ${twice} is given twice (each relay keeps its own cursor, named after its host[:port])`)
  return relays
}

/** A typo such as `not-a-url` parses as a host; a bare relay host has a dotted name, or is localhost or an IP. */

/** A comma-separated list (`a,b`), each item checked by `error` (a reason, or null when valid). */
export function list(error: (item: string) => string | null): (value: string) => string[] {
  return (value: string) => {
    const items = value.split(',').map((item) => item.trim())
    if (items.some((item) => item === '')) throw new InvalidArgumentError(`expected a comma-separated list without empty items, got "${value}"`)
    for (const item of items) {
      const reason = error(item)
      if (reason !== null) throw new InvalidArgumentError(reason)
    }
    return items
  }
}

/** Comma-separated exact NSIDs, as listReposByCollection takes them (no wildcards). */
export const exactCollections = list((nsid) => (nsid.endsWith('.*') ? `"${nsid}": listReposByCollection takes exact NSIDs, not wildcards` : collectionPatternError(nsid)))

/** `ingest --backfill`: `all`, `collection:<nsid>[,<nsid>]` or `dids:<file>` (docs/backfill.md). */
export type BackfillSpec = { kind: 'all' } | { kind: 'collections'; collections: string[] } | { kind: 'dids-file'; file: string }

export function backfillSpec(value: string): BackfillSpec {
  if (value === 'all') return { kind: 'all' }
  if (value.startsWith('collection:')) return { kind: 'collections', collections: exactCollections(value.slice('collection:'.length)) }
  if (value.startsWith('dids:') && value.length > 'dids:'.length) return { kind: 'dids-file', file: value.slice('dids:'.length) }
  throw new InvalidArgumentError(`expected all, collection:<nsid>[,<nsid>] or dids:<file>, got ${quoteValue(value)}`)
}

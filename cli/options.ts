import { InvalidArgumentError, Option } from 'commander'

/**
 * Every option's parsing and validation lives here, so each rule is written once.
 * Parsers throw InvalidArgumentError; the CLI turns that into a one-line reason and exit 2.
 * Every flag gets an environment fallback (FIREHOSE_* unless a legacy name is given).
 */

export function option<T>(flags: string, description: string, env: string, parse?: (value: string) => T, defaultValue?: T): Option {
  const opt = new Option(flags, description).env(env)
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

/** A non-empty string (Redis key names and the like). */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty')
  return value
}

export function url(protocols: readonly string[]): (value: string) => string {
  return (value: string) => {
    let parsed: URL
    try {
      parsed = new URL(value)
    } catch {
      throw new InvalidArgumentError(`not a valid URL: "${value}"`)
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new InvalidArgumentError(`expected a ${protocols.join(' or ')} URL, got "${parsed.protocol}"`)
    }
    return value
  }
}

/**
 * A relay given as a bare host (`bsky.network`), a ws(s) origin, or the full xrpc URL;
 * always returns the full `.../xrpc/com.atproto.sync.subscribeRepos` URL.
 */
export function relayUrl(value: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `wss://${value}`
  const checked = url(['ws:', 'wss:', 'http:', 'https:'])(withScheme)
  const parsed = new URL(checked)
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:'
  if (parsed.protocol === 'https:') parsed.protocol = 'wss:'
  if (!parsed.pathname.endsWith('/xrpc/com.atproto.sync.subscribeRepos')) {
    parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/xrpc/com.atproto.sync.subscribeRepos`
  }
  return parsed.toString()
}

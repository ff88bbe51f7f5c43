import { pino, type Logger } from 'pino'

export type { Logger }

export interface LoggerOptions {
  name: string
  level?: string
  /** Pretty, human lines (default: when stderr is a TTY); JSON lines otherwise. */
  pretty?: boolean
}

/**
 * Structured JSON logs on stderr (stdout stays free for command output such as JSON results).
 * Level from FIREHOSE_LOG_LEVEL unless given.
 */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? process.env.FIREHOSE_LOG_LEVEL ?? 'info'
  const pretty = options.pretty ?? process.stderr.isTTY === true
  const base = { name: options.name, level, ...REDACTING }
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    })
  }
  return pino(base, pino.destination({ dest: 2, sync: false }))
}

/** How deep into log fields strings are redacted (deeper than any field we log). */
const REDACT_DEPTH = 8

/**
 * Credentials never reach a log line: every string in the message, the fields and serialized
 * errors has URL userinfo replaced (an error message may quote a URL we never saw, e.g. a
 * library echoing its input).
 */
const REDACTING = {
  hooks: {
    logMethod(this: Logger, args: unknown[], method: (...args: unknown[]) => void) {
      method.apply(
        this,
        args.map((arg) => (typeof arg === 'string' ? redactText(arg) : arg)),
      )
    },
  },
  formatters: { log: (fields: Record<string, unknown>) => redactFields(fields, REDACT_DEPTH) as Record<string, unknown> },
  // An Error is serialized (type, message, stack, code...) into a plain object, to be redacted;
  // anything else under `err` (a reason we built, `{ message }`) is logged as it is, not as
  // pino's `{"type":"Object","stack":""}`.
  serializers: { err: (err: unknown) => redactFields(err instanceof Error ? { ...pino.stdSerializers.err(err) } : err, REDACT_DEPTH) },
}

/** Strings in plain objects and arrays, down to `depth` levels, with redactText applied; anything else as is. */
function redactFields(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value)
  if (depth === 0 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((item) => redactFields(item, depth - 1))
  if (Object.getPrototypeOf(value) !== Object.prototype) return value // Errors etc.: their serializer redacts them
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) out[key] = redactFields(item, depth - 1)
  return out
}

/** Replaces the userinfo of every URL in free text (`redis://user:pw@host` -> `redis://***@host`). */
export function redactText(text: string): string {
  return text.includes('@') ? text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s@/]*@/gi, '$1***@') : text
}

/** A logger that drops everything, for library callers and tests that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' })

/**
 * Removes credentials (userinfo) from a URL before it is logged or printed. A string that does
 * not parse loses everything up to its last '@' (after the scheme), since a malformed password
 * may hold any character.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username) parsed.username = '***'
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return redactBeforeLastAt(url)
  }
}

/**
 * A value for an error message, as given: in JSON quotes (a space, a quote or a newline stays
 * visible and the message one line) and not re-serialized (a URL parser would percent-encode it
 * into something the user never typed), with any URL userinfo replaced by `***`.
 */
export function quoteValue(value: string): string {
  return JSON.stringify(redactUserinfo(value))
}

/** Schemes whose authority also ends at a backslash, and may follow any run of slashes (WHATWG URL "special"). */
const SPECIAL_SCHEMES = new Set(['http:', 'https:', 'ws:', 'wss:', 'ftp:', 'file:'])

/** The text with a URL's userinfo replaced, found where the URL parser finds it; the rest untouched. */
function redactUserinfo(value: string): string {
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    return redactBeforeLastAt(value)
  }
  if (parsed.username === '' && parsed.password === '') return value
  // Unmatched (leading blanks the parser strips): the scheme is redacted along with the userinfo, or the fallback below does it.
  const prefix = /^[a-z][a-z0-9+.-]*:[/\\]*/i.exec(value)?.[0] ?? ''
  const rest = value.slice(prefix.length)
  const end = rest.search(SPECIAL_SCHEMES.has(parsed.protocol) ? /[/?#\\]/ : /[/?#]/)
  const at = (end === -1 ? rest : rest.slice(0, end)).lastIndexOf('@')
  return at === -1 ? redactBeforeLastAt(value) : `${prefix}***${rest.slice(at)}`
}

/** A string that does not parse: everything up to its last '@' (after the scheme) goes, since a malformed password may hold any character. */
function redactBeforeLastAt(text: string): string {
  const at = text.lastIndexOf('@')
  if (at === -1) return text
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? ''
  return `${scheme}***${text.slice(at)}`
}

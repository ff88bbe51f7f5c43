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
  if (pretty) {
    return pino({
      name: options.name,
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    })
  }
  return pino({ name: options.name, level }, pino.destination({ dest: 2, sync: false }))
}

/** A logger that drops everything, for library callers and tests that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' })

/** Removes credentials (userinfo) and password query params from a URL before it is logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username) parsed.username = '***'
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}

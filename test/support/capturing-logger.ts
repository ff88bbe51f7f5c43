import { pino } from 'pino'

/** One log line as pino wrote it, parsed. */
export type LogLine = Record<string, unknown> & { msg: string; level: number }

/** A real pino logger (level info) keeping every line it writes, so tests can wait for and count log lines. */
export function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) })
  return { logger, lines }
}

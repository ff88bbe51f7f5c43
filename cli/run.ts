/** Exit codes shared by every command. */
export const ExitCode = {
  Ok: 0,
  /** The command ran and found a problem (verification failed, scenario failed). */
  Failed: 1,
  /** Bad flags or arguments: nothing was done. */
  Usage: 2,
  /** Something outside our control failed (file unreadable, server unreachable). */
  Error: 3,
  /** A server refused our configuration (Redis: wrong password, missing ACL permission, no such db, TLS): retrying cannot help. */
  Config: 4,
  /** `ingest --ha`: this ingestor lost its lease and stopped writing; a supervisor restarts it as a standby. */
  LeaseLost: 5,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/**
 * Wraps a command action that returns an exit code. Commander passes the positional
 * arguments, then the options object, then the Command itself.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<ExitCode>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    process.exitCode = await fn(...args)
  }
}

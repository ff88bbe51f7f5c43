import { setTimeout as sleep } from 'node:timers/promises'
import { exponentialDelayMs } from './backoff.js'

export interface RetryOptions {
  /** Delay before retry n: initialMs * 2^n, capped at maxMs. */
  backoff: { initialMs: number; maxMs: number }
  /** An error that retrying cannot heal (a configuration error): thrown at once. */
  isFatal?: (err: unknown) => boolean
  /** Checked after each failure: when it says so the last error is thrown instead of waiting again. */
  stopped?: () => boolean
  /** After this many failed attempts the last error is thrown (default: no limit). */
  maxAttempts?: number
  /** Called with each failure before the wait (count, log); `failures`: attempts that failed before this one. */
  onFailure?: (err: unknown, failures: number) => void
  /** The wait between attempts (default: a timer; tests pass a fake). */
  wait?: (ms: number) => Promise<void>
}

/**
 * Runs `attempt(failures)` until it resolves, waiting with exponential backoff after each
 * failure: the one retry-forever loop of the ingestor (Redis writes, cursor reads, start-up, DID
 * resolution). `failures` tells the attempt whether a previous one failed (e.g. to check first
 * whether a write that failed ran after all). A `wait` that throws (a cancelled wait) ends it
 * with its error.
 */
export async function retryUntilSuccess<T>(attempt: (failures: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const wait = options.wait ?? ((ms: number) => sleep(ms))
  for (let failures = 0; ; failures++) {
    try {
      return await attempt(failures)
    } catch (err) {
      if (options.isFatal?.(err) === true || options.stopped?.() === true || failures + 1 >= (options.maxAttempts ?? Infinity)) throw err
      options.onFailure?.(err, failures)
      await wait(exponentialDelayMs(options.backoff, failures))
    }
  }
}

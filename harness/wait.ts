import { pollUntil } from '../common/wait.js'
import { HarnessError, HarnessErrorCode } from './errors.js'

export { sleep } from '../common/wait.js'

/**
 * Polls `check` until it returns true; throws a Timeout HarnessError naming `what` after
 * timeoutMs, with what `state()` returns then (e.g. a status: a rare stall says where it stood).
 * `check` may throw to abort at once (e.g. the child exited).
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, options: { what: string; timeoutMs: number; intervalMs?: number; state?: () => unknown }): Promise<void> {
  if (await pollUntil(check, options)) return
  const state = options.state === undefined ? undefined : JSON.stringify(options.state())
  throw new HarnessError(HarnessErrorCode.Timeout, `timed out after ${options.timeoutMs} ms waiting for ${options.what}${state === undefined ? '' : `; state then: ${state}`}`, {
    what: options.what,
    timeoutMs: options.timeoutMs,
    ...(state === undefined ? {} : { state }),
  })
}

/**
 * Resolves once the event loop has polled for I/O `turns` times (setImmediate runs right after
 * the poll phase). For checks that something did NOT happen over real sockets in this process:
 * by then a socket that is being read has taken what the kernel holds for it, and an answer
 * already sent has arrived. Counts loop turns, never time.
 */
export async function ioTurns(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
}

import { describe, expect, it } from 'vitest'
import { retryUntilSuccess, type RetryOptions } from '../../common/retry.js'

const BACKOFF = { initialMs: 100, maxMs: 1000 }

/**
 * An attempt that fails `failures` times (error `e<n>`) and then resolves 'ok', and a fake clock:
 * every call is logged in order, waits resolve at once.
 */
function script(failures: number): { attempt: (failed: number) => Promise<string>; wait: (ms: number) => Promise<void>; log: string[] } {
  const log: string[] = []
  return {
    log,
    attempt: async (failed) => {
      log.push(`attempt ${failed}`)
      if (failed < failures) throw new Error(`e${failed}`)
      return 'ok'
    },
    wait: async (ms) => {
      log.push(`wait ${ms}`)
    },
  }
}

function options(wait: RetryOptions['wait'], more: Partial<RetryOptions> = {}): RetryOptions {
  return { backoff: BACKOFF, wait, ...more }
}

describe('retryUntilSuccess retries until the attempt succeeds (a Redis or DID server outage pauses the ingestor, it never drops work)', () => {
  it('returns the first success, telling each attempt how many failed before it', async () => {
    const { attempt, wait, log } = script(3)
    await expect(retryUntilSuccess(attempt, options(wait))).resolves.toBe('ok')
    expect(log.filter((line) => line.startsWith('attempt'))).toEqual(['attempt 0', 'attempt 1', 'attempt 2', 'attempt 3'])
  })

  it('waits initialMs * 2^n after failure n, capped at maxMs', async () => {
    const { attempt, wait, log } = script(7)
    await retryUntilSuccess(attempt, options(wait))
    expect(log.filter((line) => line.startsWith('wait'))).toEqual(['wait 100', 'wait 200', 'wait 400', 'wait 800', 'wait 1000', 'wait 1000', 'wait 1000'])
  })

  it('does not wait before the first attempt, nor after a success', async () => {
    const { attempt, wait, log } = script(0)
    await retryUntilSuccess(attempt, options(wait))
    expect(log).toEqual(['attempt 0'])
  })

  it('reports each failure with its count to onFailure (where callers count and log), before its wait', async () => {
    const { attempt, wait, log } = script(2)
    const onFailure = (err: unknown, failures: number): void => void log.push(`failure ${(err as Error).message} ${failures}`)
    await retryUntilSuccess(attempt, options(wait, { onFailure }))
    expect(log).toEqual(['attempt 0', 'failure e0 0', 'wait 100', 'attempt 1', 'failure e1 1', 'wait 200', 'attempt 2'])
  })
})

describe('retryUntilSuccess gives up only when told (an error retrying cannot heal, a stop, a bounded number of attempts, a cancelled wait)', () => {
  const fatal = (err: unknown): boolean => (err as Error).message === 'e1'

  it('throws an error isFatal names at once, with no onFailure or wait for it (transient ones before it are retried)', async () => {
    const { attempt, wait, log } = script(5)
    const onFailure = (): void => void log.push('failure')
    await expect(retryUntilSuccess(attempt, options(wait, { isFatal: fatal, onFailure }))).rejects.toThrow('e1')
    expect(log).toEqual(['attempt 0', 'failure', 'wait 100', 'attempt 1'])
  })

  it('once stopped() says so, throws the last error instead of waiting again', async () => {
    const { attempt, wait, log } = script(5)
    const stopped = (): boolean => log.filter((line) => line.startsWith('attempt')).length >= 2
    await expect(retryUntilSuccess(attempt, options(wait, { stopped }))).rejects.toThrow('e1')
    expect(log).toEqual(['attempt 0', 'wait 100', 'attempt 1'])
  })

  it('asks stopped() only after a failure: one attempt is made even when already stopped', async () => {
    const first = script(1)
    await expect(retryUntilSuccess(first.attempt, options(first.wait, { stopped: () => true }))).rejects.toThrow('e0')
    expect(first.log).toEqual(['attempt 0'])
    const succeeds = script(0)
    await expect(retryUntilSuccess(succeeds.attempt, options(succeeds.wait, { stopped: () => true }))).resolves.toBe('ok')
  })

  it('with maxAttempts, throws the error of the last attempt; a success within them is returned', async () => {
    const { attempt, wait, log } = script(5)
    const onFailure = (err: unknown): void => void log.push(`failure ${(err as Error).message}`)
    await expect(retryUntilSuccess(attempt, options(wait, { maxAttempts: 3, onFailure }))).rejects.toThrow('e2')
    expect(log).toEqual(['attempt 0', 'failure e0', 'wait 100', 'attempt 1', 'failure e1', 'wait 200', 'attempt 2'])
    const within = script(2)
    await expect(retryUntilSuccess(within.attempt, options(within.wait, { maxAttempts: 3 }))).resolves.toBe('ok')
  })

  it('a wait that throws (cancelled) ends it with that error', async () => {
    const { attempt, log } = script(5)
    const cancelled = new Error('cancelled')
    const wait = async (ms: number): Promise<void> => {
      log.push(`wait ${ms}`)
      if (ms > 100) throw cancelled
    }
    await expect(retryUntilSuccess(attempt, options(wait))).rejects.toBe(cancelled)
    expect(log).toEqual(['attempt 0', 'wait 100', 'attempt 1', 'wait 200'])
  })
})

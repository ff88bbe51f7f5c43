import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HarnessErrorCode } from '../../harness/errors.js'
import { waitUntil } from '../../harness/wait.js'

describe('waitUntil: a timeout names what it waited for and, when given, the state then (a rare stall in CI says where it stood)', () => {
  beforeEach(() => void vi.useFakeTimers())
  afterEach(() => void vi.useRealTimers())

  it('resolves once the check holds', async () => {
    let polls = 0
    const waiting = waitUntil(() => ++polls >= 3, { what: 'the third poll', timeoutMs: 1_000 })
    await vi.advanceTimersByTimeAsync(100)
    await expect(waiting).resolves.toBeUndefined()
    expect(polls).toBe(3)
  })

  it('times out with the state read at the timeout', async () => {
    let reads = 0
    const waiting = waitUntil(() => false, { what: 'nothing', timeoutMs: 1_000, state: () => ({ reads: ++reads }) })
    const failed = expect(waiting).rejects.toMatchObject({
      code: HarnessErrorCode.Timeout,
      message: 'timed out after 1000 ms waiting for nothing; state then: {"reads":1}',
      fields: { what: 'nothing', timeoutMs: 1_000, state: '{"reads":1}' },
    })
    await vi.advanceTimersByTimeAsync(1_100)
    await failed
  })

  it('times out naming only what it waited for when no state is given', async () => {
    const waiting = waitUntil(() => false, { what: 'nothing', timeoutMs: 1_000 })
    const failed = expect(waiting).rejects.toThrow(/^timed out after 1000 ms waiting for nothing$/)
    await vi.advanceTimersByTimeAsync(1_100)
    await failed
  })
})

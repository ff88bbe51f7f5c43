import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { withScenarioSlot } from '../../harness/scenario-slots.js'
import { sleep, waitUntil } from '../../harness/wait.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slots-test-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('withScenarioSlot', () => {
  it('runs shared slots together, an exclusive one alone, and holds back shared ones queued after it', async () => {
    const events: string[] = []
    const run = (name: string, exclusive: boolean, ms: number): Promise<void> =>
      withScenarioSlot(
        exclusive,
        async () => {
          events.push(`${name} start`)
          await sleep(ms)
          events.push(`${name} end`)
        },
        dir,
      )
    const a = run('a', false, 400)
    const b = run('b', false, 400)
    await waitUntil(() => events.length === 2, { what: 'a and b in their shared slots', timeoutMs: 10_000 })
    const x = run('x', true, 100)
    await waitUntil(() => existsSync(join(dir, 'exclusive', 'pid')), { what: 'x claiming the lock', timeoutMs: 10_000 })
    const c = run('c', false, 10)
    await Promise.all([a, b, x, c])
    expect(events.slice(0, 2).sort()).toEqual(['a start', 'b start'])
    expect(events.indexOf('x start')).toBeGreaterThan(Math.max(events.indexOf('a end'), events.indexOf('b end')))
    expect(events.indexOf('c start')).toBeGreaterThan(events.indexOf('x end'))
  })

  it('releases the slot when the body throws', async () => {
    await expect(withScenarioSlot(true, () => Promise.reject(new Error('boom')), dir)).rejects.toThrow('boom')
    expect(await withScenarioSlot(true, async () => 'next', dir)).toBe('next')
  })
})

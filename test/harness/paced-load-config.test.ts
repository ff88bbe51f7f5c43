import { describe, expect, it } from 'vitest'
import { maxLagP99MsSetting } from '../../harness/scenarios/paced-load.js'

describe('HARNESS_MAX_LAG_P99_MS', () => {
  it('defaults when unset or empty, takes a positive number of ms', () => {
    expect(maxLagP99MsSetting(undefined, 1000)).toBe(1000)
    expect(maxLagP99MsSetting(' ', 1000)).toBe(1000)
    expect(maxLagP99MsSetting('15000', 1000)).toBe(15000)
    expect(maxLagP99MsSetting('2.5e3', 1000)).toBe(2500)
  })

  it.each(['15s', 'abc', '0', '-5', 'Infinity'])('refuses %j with HARNESS_INVALID_CONFIG (NaN would pass every lag check)', (value) => {
    expect(() => maxLagP99MsSetting(value, 1000)).toThrow(expect.objectContaining({ code: 'HARNESS_INVALID_CONFIG', message: expect.stringContaining(value) }))
  })
})

import { describe, expect, it } from 'vitest'
import { NO_REASON, skipReason, skipSummaryLines } from './skip-summary.js'

describe('skipSummaryLines', () => {
  it('one line per reason, most frequent first, counts aligned', () => {
    const ci = 'ci profile: covered by test/ingestor/relay-faults.test.ts (the same fault, in process); runs in npm run test:full'
    const reasons = [...Array<string>(12).fill(ci), 'no zlib zstd in this Node (Node 22.15 or later has it)', 'no Chromium: /usr/bin/chromium not installed', 'no zlib zstd in this Node (Node 22.15 or later has it)']
    expect(skipSummaryLines(reasons)).toEqual(['skipped 15, by reason:', `  12  ${ci}`, '   2  no zlib zstd in this Node (Node 22.15 or later has it)', '   1  no Chromium: /usr/bin/chromium not installed'])
  })

  it('equal counts in reason order; nothing when nothing was skipped', () => {
    expect(skipSummaryLines(['b', 'a'])).toEqual(['skipped 2, by reason:', '  1  a', '  1  b'])
    expect(skipSummaryLines([])).toEqual([])
  })
})

describe('skipReason', () => {
  it('the note first, else the reason skipTest kept in the task meta (all the JSON report has)', () => {
    expect(skipReason({ note: 'no Docker', meta: { skipReason: 'other' }, todo: false })).toBe('no Docker')
    expect(skipReason({ note: undefined, meta: { skipReason: 'no Docker' }, todo: false })).toBe('no Docker')
  })

  it('todo, or none given', () => {
    expect(skipReason({ note: undefined, meta: {}, todo: true })).toBe('todo')
    expect(skipReason({ note: undefined, meta: undefined, todo: false })).toBe(NO_REASON)
    expect(skipReason({ note: '  ', meta: {}, todo: false })).toBe(NO_REASON)
  })

  it('a multi-line or very long reason becomes one line of at most 200 characters', () => {
    expect(skipReason({ note: 'no external Redis at redis://127.0.0.1:6379: connect ECONNREFUSED\n    at stack', todo: false })).toBe('no external Redis at redis://127.0.0.1:6379: connect ECONNREFUSED')
    const long = skipReason({ note: 'x'.repeat(500), todo: false })
    expect(long).toHaveLength(200)
    expect(long.endsWith('...')).toBe(true)
  })
})

// Skip reasons grouped into lines, for the end of a test run. Shared by the vitest reporter
// (skip-reasons-reporter.ts) and .ci/summary.mjs (which reads vitest's JSON report): plain
// JavaScript, so that Node runs it without a build. Types: skip-summary.d.ts.

/** Longest reason shown: a reason quoting an error message stays on one line. */
const MAX_REASON = 200

export const NO_REASON = 'no reason recorded (not skipped with skipTest of test/support/skip.ts, or a .only elsewhere, or a -t filter)'

/** The reason a skipped test shows: its skip note, else the reason skipTest() kept in its meta; todo tests are "todo". */
export function skipReason({ note, meta, todo }) {
  if (todo) return 'todo'
  const reason = note ?? meta?.skipReason
  if (typeof reason !== 'string' || reason.trim() === '') return NO_REASON
  const line = reason.trim().split('\n')[0]
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 3)}...` : line
}

/** "skipped N, by reason:" then one line per distinct reason, most frequent first; nothing when none was skipped. */
export function skipSummaryLines(reasons) {
  if (reasons.length === 0) return []
  const counts = new Map()
  for (const reason of reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1)
  const sorted = [...counts].sort(([a, m], [b, n]) => n - m || a.localeCompare(b))
  const width = String(sorted[0][1]).length
  return [`skipped ${reasons.length}, by reason:`, ...sorted.map(([reason, count]) => `  ${String(count).padStart(width)}  ${reason}`)]
}

// Prints vitest's JSON report as the plain closing line CI reads: "N passed, N failed, N skipped",
// then the skipped tests counted by reason (what npm test's own reporter prints, which the
// --reporter flags of .ci/run replace), then one line per failed test (file, name, first line of
// the failure), so the end of the log names what failed even when the log is cut.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { skipReason, skipSummaryLines } from '../test/support/skip-summary.js'

const [label, file] = process.argv.slice(2)
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  console.log(`${label}: no test report (${err.message})`)
  process.exit(0)
}
const skipped = report.numPendingTests + report.numTodoTests
console.log(`${label}: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`)
// The JSON report has no skip notes: the reason is the one test/support/skip.ts keeps in the test's meta.
const notRun = (report.testResults ?? []).flatMap((suite) => (suite.assertionResults ?? []).filter((test) => ['skipped', 'pending', 'todo'].includes(test.status)))
for (const line of skipSummaryLines(notRun.map((test) => skipReason({ meta: test.meta, todo: test.status === 'todo' })))) console.log(`${label}: ${line}`)
for (const suite of report.testResults ?? []) {
  const path = relative(process.cwd(), suite.name)
  const failed = (suite.assertionResults ?? []).filter((test) => test.status === 'failed')
  for (const test of failed) {
    const firstLine = failureLine(test.failureMessages?.[0])
    console.log(`${label}: FAILED ${path} > ${test.fullName}: ${firstLine}`)
  }
  // A file that failed to load or whose hooks threw has no failed test but a message.
  if (failed.length === 0 && suite.status === 'failed') {
    console.log(
      `${label}: FAILED ${path}: ${String(suite.message ?? '')
        .split('\n')[0]
        .slice(0, 300)}`,
    )
  }
}

/** The first line of a failure; vitest reports a test or hook timeout with its registration's stack, whose first line is only "Error: STACK_TRACE_ERROR". */
function failureLine(message) {
  const lines = String(message ?? '').split('\n')
  const first = lines[0] === 'Error: STACK_TRACE_ERROR' ? `timed out (vitest's test or hook timeout; ${lines.find((line) => line.includes('.test.ts')) ?? 'no test frame'})` : lines[0]
  return first.slice(0, 300)
}

import type { Reporter, TestModule, Vitest } from 'vitest/node'
import { skipReason, skipSummaryLines } from './skip-summary.js'

/**
 * Ends a run with how many tests were skipped and why, one line per reason (no Docker, no
 * Chromium, no zstd in this Node, the ci profile's covered-by skips...): the default reporter
 * shows only a count. Listed after it in vitest.config.ts, so its lines come last.
 */
export default class SkipReasonsReporter implements Reporter {
  private vitest: Vitest | null = null

  onInit(vitest: Vitest): void {
    this.vitest = vitest
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const reasons: string[] = []
    for (const testModule of testModules) {
      for (const test of testModule.children.allTests('skipped')) {
        const result = test.result()
        reasons.push(skipReason({ note: result.state === 'skipped' ? result.note : undefined, meta: test.meta(), todo: test.options.mode === 'todo' }))
      }
    }
    const lines = skipSummaryLines(reasons)
    if (lines.length > 0) this.vitest?.logger.log(lines.join('\n'))
  }
}

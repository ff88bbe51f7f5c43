import { beforeEach, type TestContext } from 'vitest'

declare module 'vitest' {
  interface TaskMeta {
    /** Why the test was skipped (skipTest): the JSON report keeps task meta, not skip notes. */
    skipReason?: string
  }
}

/**
 * Skips the running test saying why. The reason goes in two places: the skip note (vitest's
 * reporters, test/support/skip-reasons-reporter.ts) and the task meta, which the JSON report of
 * .ci/run keeps and .ci/summary.mjs reads. `it.skipIf` records no reason: use this instead.
 */
export function skipTest(context: TestContext, reason: string): never {
  context.task.meta.skipReason = reason
  return context.skip(reason)
}

/** Skips every test of the enclosing `describe` with `reason` (null: they run). For `describe.skipIf`, which records no reason. */
export function skipAllTests(reason: string | null): void {
  if (reason !== null) beforeEach((context) => skipTest(context, reason))
}

// Reasons several files skip for, in one wording so that the summary counts them on one line.
export const NO_ZSTD = 'no zlib zstd in this Node (Node 22.15 or later has it)'
export const NO_COMMITTED_FIXTURE = 'no fixtures/generated.fixture.gz (it is committed; fixtures/README.md says how to regenerate it)'

import { BaseSequencer, type TestSpecification } from 'vitest/node'
import { defineConfig } from 'vitest/config'

/**
 * Starts the long suites first. Without a duration cache (a fresh clone, CI) vitest orders files
 * by size, which left the scenario suites (1.5-3 min each, black-box CLI runs) for the end, two
 * at a time, with a worker idle behind the last one: about a minute and a half of CI.
 */
class LongSuitesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const weight = (file: TestSpecification): number => (file.moduleId.includes('/test/scenarios/') ? 0 : file.moduleId.includes('/test/ingestor/') ? 1 : 2)
    return sorted
      .map((file, index) => ({ file, index }))
      .sort((a, b) => weight(a.file) - weight(b.file) || a.index - b.index)
      .map(({ file }) => file)
  }
}

export default defineConfig({
  test: {
    // examples/ import the package by name (self-reference to dist/): `npm test` builds first.
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites start real servers and child processes; two cores here.
    pool: 'forks',
    maxWorkers: 2,
    sequence: { sequencer: LongSuitesFirst },
  },
})

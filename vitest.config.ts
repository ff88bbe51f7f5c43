import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // examples/ import the package by name (self-reference to dist/): `npm test` builds first.
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites start real servers and child processes; two cores here.
    pool: 'forks',
    maxWorkers: 2,
  },
})

import { BaseSequencer, type TestSpecification } from 'vitest/node'
import { defineConfig } from 'vitest/config'

/**
 * Starts the long suites first. Without a duration cache (a fresh clone, CI) vitest orders files
 * by size, which left the scenario suites (black-box CLI runs) for the end, two at a time, with
 * a worker idle behind the last one.
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

const ALL = ['test/**/*.test.ts', 'examples/**/*.test.ts']

/**
 * The `runtime` project: the tests whose outcome depends on the Node.js runtime itself rather
 * than on our logic, run again on every Node version CI covers (`npm test -- --project runtime`).
 * Everything else is the `integration` project; `npm test` runs both, each file once.
 */
const RUNTIME = [
  // Codec: CBOR, CAR, CID and hashing on the runtime's Buffer, TextDecoder and crypto.
  'test/protocol/**/*.test.ts',
  // Compression (zlib gzip, zstd where the runtime has it) and file streams.
  'test/fixture/{corruption,kill,length-prefixed,round-trip,size-histogram,streaming,truncation}.test.ts',
  // Sockets: the WebSocket client and server (ws over the runtime's net/http), TCP.
  'test/client/**/*.test.ts',
  'test/replay/clients.test.ts',
  'test/replay/cursor.test.ts',
  'test/replay/max-mode.test.ts',
  'test/harness/tcp-proxy.test.ts',
  'test/recorder/recorder.test.ts',
  // Worker threads: decode workers and verify workers, transferable buffers.
  'test/ingestor/decode-batch.test.ts',
  'test/ingestor/worker-slot.test.ts',
  'test/ingestor/end-to-end.test.ts',
  'test/ingestor/golden.test.ts',
  // Crypto: secp256k1/P-256 signatures, SHA-256, the generator's signing.
  'test/ingestor/verify-units.test.ts',
  'test/generator/**/*.test.ts',
  // Processes and the event loop: signals, graceful drain, exiting at once.
  'test/ingestor/cli.test.ts',
  'test/ingestor/exit-promptly.test.ts',
  // The consumer library (ioredis on the runtime), the workers' side of the contract.
  'test/consumer/**/*.test.ts',
  'examples/**/*.test.ts',
]

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites start real servers and child processes; two cores here.
    pool: 'forks',
    maxWorkers: 2,
    sequence: { sequencer: LongSuitesFirst },
    // After the default summary, the skipped tests counted by reason (`--reporter` flags replace both: .ci/summary.mjs prints the same from the JSON report).
    reporters: ['default', './test/support/skip-reasons-reporter.ts'],
    // Scenario sizes (harness/scenarios/profile.ts): `npm test` runs the ci profile, `npm run test:full` the full one.
    env: { HARNESS_PROFILE: process.env.HARNESS_PROFILE ?? 'ci' },
    projects: [
      // examples/ import the package by name (self-reference to dist/): `npm test` builds first.
      { extends: true, test: { name: 'runtime', include: RUNTIME } },
      { extends: true, test: { name: 'integration', include: ALL, exclude: RUNTIME } },
    ],
  },
})

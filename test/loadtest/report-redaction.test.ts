import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { writeReports } from '../../loadtest/report-json.js'
import type { LoadtestResult } from '../../loadtest/types.js'

const SECRET = 'hunter2-loadtest'
const dir = mkdtempSync(join(tmpdir(), 'loadtest-report-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const lag = { count: 0, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null }
const result: LoadtestResult = {
  config: { fixture: 'f.gz', rate: 100, profile: null, durationSec: 1, stepSeconds: 10, maxLagMs: 1000, redisUrl: `redis://lt:${SECRET}@127.0.0.1:6379/2`, seed: 1, drainTimeoutSec: 10 },
  startedAt: '2026-01-01T00:00:00.000Z',
  seed: 1,
  lagClock: 'redis',
  samples: [],
  steps: [],
  summary: {
    loadSeconds: 0,
    published: 0,
    offeredPerSec: 0,
    lag,
    lagUnmeasured: 0,
    maxRssMb: null,
    maxCpuPercent: null,
    maxQueueFrames: null,
    reconnects: null,
    drainSeconds: 0,
    stream: { expected: 0, delivered: 0, lost: 0, duplicated: 0, unexpected: 0, samples: { lost: [], duplicated: [], unexpected: [] } },
    ingestorExit: 'exit 0',
  },
  verdict: { pass: true, maxSustainableRate: 100, generatorLimited: false, reasons: [] },
}

it('report.json and report.html show the --redis URL without its password', async () => {
  const paths = await writeReports(dir, result)
  const json = JSON.parse(readFileSync(paths.json, 'utf8')) as LoadtestResult
  expect(json.config.redisUrl).toBe('redis://***:***@127.0.0.1:6379/2')
  for (const path of [paths.json, paths.html]) expect(readFileSync(path, 'utf8')).not.toContain(SECRET)
  expect(result.config.redisUrl).toContain(SECRET) // the caller's config is left as it was
})

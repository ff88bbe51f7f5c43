import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LoadtestResult } from '../../loadtest/types.js'
import { waitUntil } from '../../harness/wait.js'
import { runCli, startCli, type CliResult } from '../support/cli.js'
import { skipTest } from '../support/skip.js'

// The built CLI, as a user runs it (npm test builds first), with PATH alone in its environment:
// no HARNESS_REDIS, so the load test's default is a redis-server child.
function firehose(args: string[]): Promise<CliResult> {
  return runCli(args, { timeoutMs: 90_000 })
}

const FIXTURE = fileURLToPath(new URL('../../fixtures/generated.fixture.gz', import.meta.url))
const CHROMIUM = '/usr/bin/chromium'
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loadtest-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

// Each case is a CLI start that stops at option checks: concurrent.
describe.concurrent('firehose loadtest: bad input is one line and exit 2, before anything starts', () => {
  it.for([
    [['--fixture', FIXTURE, '--rate', 'fast'], /--rate: expected an events\/s integer/],
    [['--fixture', FIXTURE, '--profile', 'step:2000..1000/5s'], /TO \(1000\) must not be below FROM \(2000\)/],
    [['--fixture', FIXTURE, '--rate', '100', '--profile', 'step:100..200/5s'], /--rate and --profile exclude each other/],
    [['--fixture', FIXTURE], /give --rate N, --rate max or --profile/],
    [['--fixture', join(FIXTURE, 'missing'), '--rate', '100'], /fixture .* not found/],
    [['--fixture', FIXTURE, '--rate', 'max', '--duration', '5'], /shorter than one probe/],
    [['--fixture', FIXTURE, '--rate', '100', '--duration', '0'], /--duration/],
    // The replay's random source takes 32-bit seeds: a larger one would be silently truncated.
    [['--fixture', FIXTURE, '--rate', '100', '--seed', String(2 ** 33)], /--seed.*from 0 to 4294967295/],
  ] as const)('%j', async ([args, message], { expect }) => {
    const result = await firehose(['loadtest', ...args])
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(message)
    expect(result.stdout).toBe('')
  })
})

it('an unreachable --redis is an infrastructure error: exit 3, one line', async () => {
  const result = await firehose(['loadtest', '--fixture', FIXTURE, '--rate', '100', '--duration', '2', '--redis', 'redis://127.0.0.1:1', '--report', join(dir, 'unused')])
  expect(result.code).toBe(3)
  expect(result.stderr).toMatch(/^firehose loadtest: Redis at --redis does not answer: .*ECONNREFUSED.*\n$/)
  expect(existsSync(join(dir, 'unused'))).toBe(false)
})

describe('firehose loadtest --rate 300 --duration 5 (replay -> ingestor child -> redis-server)', () => {
  let result: CliResult
  let report: LoadtestResult

  beforeAll(async () => {
    // A generous lag bound: this checks the pipeline and the report, not how loaded the test machine is.
    result = await firehose(['loadtest', '--fixture', FIXTURE, '--rate', '300', '--duration', '5', '--max-lag-ms', '10000', '--report', dir, '--seed', '5'])
    report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as LoadtestResult
  }, 90_000)

  it('passes with every published event in the stream exactly once', () => {
    // Off a terminal stderr carries only the progress lines (the first second, then every 10 s): no warning, no error.
    expect(result.stderr.split('\n').filter((line) => line !== '' && !/^firehose loadtest: \d+\/5 s {2}target 300\/s {2}offered /.test(line))).toEqual([])
    expect(result.stderr).toMatch(/^firehose loadtest: \d+\/5 s /) // the first sample: 1 s in, later on a loaded machine
    expect(result.code).toBe(0)
    expect(report.verdict).toMatchObject({ pass: true, maxSustainableRate: 300, reasons: [] })
    expect(report.summary.stream).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 })
    // 5 s at 300/s loops the 1,500-event fixture only once, so this also covers the first rewritten seqs when the machine is slow.
    expect(report.summary.stream.expected).toBe(report.summary.published)
    expect(report.summary.stream.expected).toBeGreaterThan(1000)
    expect(report.seed).toBe(5)
  })

  it('samples every second: rates, lag, RSS, CPU, queue, reconnects', () => {
    expect(report.samples.length).toBeGreaterThanOrEqual(5)
    const loaded = report.samples.filter((s) => s.targetRate === 300)
    expect(loaded.length).toBeGreaterThanOrEqual(4)
    for (const sample of loaded.slice(1)) {
      expect(sample.offeredPerSec).toBeGreaterThan(150)
      expect(sample.lagCount).toBeGreaterThan(0)
      expect(sample.rssMb).toBeGreaterThan(10)
      expect(sample.cpuPercent).not.toBeNull()
      expect(sample.queueFrames).not.toBeNull()
      expect(sample.reconnects).toBe(0)
    }
    expect(report.summary.lag.count).toBeGreaterThan(500)
    expect(report.summary.lag.p99Ms).toBeLessThan(report.config.maxLagMs)
  })

  it('prints the summary table and the report paths', () => {
    expect(result.stdout).toMatch(/^verdict +PASS$/m)
    expect(result.stdout).toMatch(/^stream +expected \d+, delivered \d+, lost 0, duplicated 0, unexpected 0$/m)
    // A fixed rate claims no maximum; the lag line says what it counted, from the report's numbers.
    expect(result.stdout).toMatch(/^sustained +yes, 300\/s$/m)
    expect(result.stdout).not.toContain('max sustainable rate')
    const { lag, published } = report.summary
    const { warmupSec } = report.steps[0]!
    expect(warmupSec).toBeGreaterThan(1) // half of the 5 s step, less what the rig's start took of the --duration
    expect(warmupSec).toBeLessThanOrEqual(2.5)
    expect(result.stdout).toMatch(new RegExp(`^lag +p50 .* over ${lag.count} of ${published} events \\(after a ${warmupSec} s warm-up\\); bound p99 < 10000 ms$`, 'm'))
    expect(result.stdout).toContain(join(dir, 'report.html'))
    expect(result.stdout).not.toContain('\r') // no progress bar when stdout is not a TTY
  })

  it('report.html renders offline in headless Chromium with its charts', async (ctx) => {
    if (!existsSync(CHROMIUM)) skipTest(ctx, `no Chromium: ${CHROMIUM} not installed (Debian package chromium; CI installs it)`)
    const html = await readFile(join(dir, 'report.html'), 'utf8')
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/) // nothing to fetch, nothing to run
    const profile = await mkdtemp(join(tmpdir(), 'loadtest-chromium-'))
    try {
      const { stdout: dom } = await promisify(execFile)(
        CHROMIUM,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${profile}`,
          '--dump-dom',
          `file://${join(dir, 'report.html')}`,
        ],
        { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      )
      for (const id of ['chart-rate', 'chart-lag', 'chart-rss', 'chart-cpu', 'chart-queue']) expect(dom).toMatch(new RegExp(`<svg id="${id}" class="chart"`))
      const points = (series: string): number[] => [...dom.matchAll(new RegExp(`data-series="${series}" data-points="(\\d+)"`, 'g'))].map((m) => Number(m[1]))
      const sampled = report.samples.length
      expect(points('offered').reduce((a, b) => a + b, 0)).toBe(sampled)
      expect(points('p99').reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(sampled - 1)
      expect(points('RSS').reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(sampled - 1)
      expect(dom).toContain('PASS — 300/s sustained')
    } finally {
      await rm(profile, { recursive: true, force: true })
    }
  }, 70_000)
})

it('Ctrl-C (SIGINT to the whole process group, as a terminal sends it) ends the load, then drains, checks and writes the report: exit 1, nothing lost', async () => {
  const reportDir = join(dir, 'interrupted')
  // detached: its own process group, which the test signals like a terminal signals its foreground group.
  const run = startCli(['loadtest', '--fixture', FIXTURE, '--rate', '300', '--duration', '120', '--max-lag-ms', '10000', '--report', reportDir, '--seed', '6'], { detached: true, timeoutMs: 120_000 })
  const child = run.child
  const exited = run.done.then(({ code }) => code)
  try {
    // Rig start (Redis, replay, ingestor), then the first second of load (off a terminal its progress is logged).
    await waitUntil(() => /firehose loadtest: \d+\/120 s +target 300\/s/.test(run.stderr) || child.exitCode !== null, { what: 'the first progress line', timeoutMs: 60_000 })
    process.kill(-child.pid!, 'SIGINT')
    const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 90_000))])
    expect(code, run.stderr).toBe(1)
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  const { stdout, stderr } = await run.done
  expect(stderr).toMatch(/SIGINT: ending the load/)
  const report = JSON.parse(await readFile(join(reportDir, 'report.json'), 'utf8')) as LoadtestResult
  expect(report.verdict.pass).toBe(false)
  expect(report.verdict.reasons[0]).toMatch(/^interrupted after \d+ s of load/)
  expect(report.summary.loadSeconds).toBeLessThan(100)
  expect(report.summary.published).toBeGreaterThan(0)
  expect(report.summary.stream).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 })
  expect(report.summary.ingestorExit).toBe('code 0') // stopped by the load test, not by the terminal's signal
  expect(stdout).toMatch(/^verdict +FAIL: interrupted after/m)
}, 120_000)

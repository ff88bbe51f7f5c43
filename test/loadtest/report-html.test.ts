import { describe, expect, it } from 'vitest'
import { renderReportHtml } from '../../loadtest/report-html.js'
import type { Sample } from '../../loadtest/sampler.js'
import { summaryRows } from '../../loadtest/summary.js'
import { lineChart, type ChartSpec } from '../../loadtest/svg-chart.js'
import type { LoadtestConfig, LoadtestResult, StepRecord } from '../../loadtest/types.js'

// The plot area of svg-chart.ts: y from 34 (top) to 226 (bottom).
const PLOT_TOP = 34
const PLOT_BOTTOM = 226

/** The y coordinates of one series' points, in order. */
function yOf(svg: string, series: string): number[] {
  const polylines = [...svg.matchAll(new RegExp(`data-series="${series}" data-points="\\d+" points="([^"]+)"`, 'g'))]
  expect(polylines.length).toBeGreaterThan(0)
  return polylines.flatMap((m) => m[1]!.split(' ').map((point) => Number(point.split(',')[1])))
}

/** The y axis' tick labels, bottom to top. */
function yTicks(svg: string): string[] {
  return [...svg.matchAll(/<text x="58" y="[\d.]+" text-anchor="end">([^<]+)<\/text>/g)].map((m) => m[1]!)
}

const lagChart = (p99: (number | null)[], bound = 2000): string => {
  const spec: ChartSpec = {
    id: 'chart-lag',
    title: 'lag',
    unit: 'ms',
    t: p99.map((_, i) => i + 1),
    series: [
      { name: 'p50', color: '#2ca02c', values: p99.map((v) => (v === null ? null : v / 3)) },
      { name: 'p99', color: '#d62728', values: p99 },
    ],
    guide: { value: bound, label: `bound ${bound} ms` },
  }
  return lineChart(spec)
}

describe('lag chart: the axis follows the data, the bound is drawn when near', () => {
  it('a 34 ms p99 under a 2,000 ms bound fills the plot; the bound is named as off the scale', () => {
    const svg = lagChart([20, 28, 34, 31, 25])
    expect(yTicks(svg)).toEqual(['0', '10', '20', '30', '40', '50'])
    const ys = yOf(svg, 'p99')
    // The peak (34 of 50) sits in the upper half of the plot, not on the axis.
    expect(Math.min(...ys)).toBeLessThan((PLOT_TOP + PLOT_BOTTOM) / 2)
    expect(Math.max(...ys) - Math.min(...ys)).toBeGreaterThan(40)
    expect(svg).not.toContain('class="guide"')
    expect(svg).toContain('>bound 2000 ms: above this scale</text>')
  })

  it('a p99 within 2x of the bound: the axis reaches the bound and the line is drawn there', () => {
    const svg = lagChart([400, 900, 1200, 1100])
    expect(yTicks(svg).at(-1)).toBe('2000')
    expect(svg).toMatch(new RegExp(`<line x1="64" x2="744" y1="${PLOT_TOP}" y2="${PLOT_TOP}" class="guide"/>`))
    expect(svg).toContain('>bound 2000 ms</text>')
    expect(svg).not.toContain('above this scale')
  })

  it('a p99 above the bound: the axis covers the data, the bound line inside it', () => {
    const svg = lagChart([1500, 3000, 4200])
    expect(yTicks(svg).at(-1)).toBe('5000')
    const boundY = Math.round((PLOT_BOTTOM - (2000 / 5000) * (PLOT_BOTTOM - PLOT_TOP)) * 10) / 10
    expect(svg).toContain(`y1="${boundY}" y2="${boundY}" class="guide"`)
    expect(Math.min(...yOf(svg, 'p99'))).toBeLessThan(boundY)
  })

  it('no lag sample at all: an empty plot, the bound off the scale', () => {
    const svg = lagChart([null, null])
    expect(svg).not.toContain('data-series="p99"')
    expect(svg).toContain('above this scale')
  })
})

const lag = (count: number, p99Ms: number) => ({ count, p50Ms: 11, p95Ms: 20, p99Ms, maxMs: 50 })

function step(targetRate: number, fromT: number, toT: number, warmupSec: number, sustained = true): StepRecord {
  return { targetRate, fromT, toT, warmupSec, offeredPerSec: targetRate, lag: lag(targetRate * (toT - fromT - warmupSec), 30), sustained, reason: sustained ? null : 'lag p99 2500 ms >= 2000 ms' }
}

function sample(t: number, lagP99Ms: number): Sample {
  return {
    t,
    targetRate: 1000,
    offeredPerSec: 1000,
    ingestPerSec: 1000,
    lagCount: 1000,
    lagP50Ms: 10,
    lagP95Ms: 20,
    lagP99Ms,
    lagMaxMs: 40,
    pendingMs: 0,
    rssMb: 100,
    cpuPercent: 40,
    queueFrames: 3,
    reconnects: 0,
  }
}

function result(config: Partial<LoadtestConfig>, steps: StepRecord[], verdict: Partial<LoadtestResult['verdict']> = {}): LoadtestResult {
  return {
    config: { fixture: 'f.gz', rate: 1500, profile: null, durationSec: 10, stepSeconds: 10, maxLagMs: 2000, redisUrl: null, seed: 1, drainTimeoutSec: 60, ...config },
    startedAt: '2026-01-01T00:00:00.000Z',
    seed: 1,
    lagClock: 'redis',
    samples: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((t) => sample(t, 25 + t)),
    steps,
    summary: {
      loadSeconds: 10,
      published: 9996,
      offeredPerSec: 1000,
      lag: lag(5002, 34),
      lagUnmeasured: 0,
      maxRssMb: 100,
      maxCpuPercent: 40,
      maxQueueFrames: 3,
      reconnects: 0,
      drainSeconds: 0.4,
      stream: { expected: 9996, delivered: 9996, lost: 0, duplicated: 0, unexpected: 0, samples: { lost: [], duplicated: [], unexpected: [] } },
      ingestorExit: 'code 0',
    },
    verdict: { pass: true, maxSustainableRate: 1500, generatorLimited: false, reasons: [], ...verdict },
  }
}

const heading = (html: string): string => /<p class="verdict \w+">([^<]*)<\/p>/.exec(html)![1]!
const row = (r: LoadtestResult, label: string): string | undefined => summaryRows(r).find(([l]) => l === label)?.[1]

describe('verdict heading: a maximum only when a search was made', () => {
  it('a fixed --rate 1500 says "1500/s sustained", not a maximum', () => {
    const fixed = result({ rate: 1500 }, [step(1500, 0, 10, 5)])
    expect(heading(renderReportHtml(fixed))).toBe('PASS — 1500/s sustained')
    expect(row(fixed, 'sustained')).toBe('yes, 1500/s')
    expect(row(fixed, 'max sustainable rate')).toBeUndefined()
    expect(renderReportHtml(fixed)).not.toContain('max sustainable rate')
  })

  it('a fixed rate not held says so, with the step’s reason in the table', () => {
    const failed = result({ rate: 1500 }, [step(1500, 0, 10, 5, false)], { pass: false, maxSustainableRate: null, reasons: ['1500/s not sustained: lag p99 2500 ms >= 2000 ms'] })
    expect(heading(renderReportHtml(failed))).toBe('FAIL — 1500/s not sustained')
    expect(row(failed, 'sustained')).toBe('no: lag p99 2500 ms >= 2000 ms')
  })

  it('a fixed rate that ended before its first step: no rate claim', () => {
    expect(heading(renderReportHtml(result({ rate: 1500 }, [], { pass: false, maxSustainableRate: null, reasons: ['interrupted after 0 s of load'] })))).toBe('FAIL')
  })

  it('--rate max and a step profile searched: "max sustainable rate"', () => {
    const search = result({ rate: 'max' }, [step(1000, 0, 10, 5), step(2000, 12, 22, 2)], { maxSustainableRate: 2000 })
    expect(heading(renderReportHtml(search))).toBe('PASS — max sustainable rate 2000/s')
    expect(row(search, 'max sustainable rate')).toBe('2000/s')
    const profile = { spec: 'step:1000..3000/10s', rates: [1000, 2000, 3000], stepSeconds: 10 }
    const stepped = result({ rate: null, profile }, [step(1000, 0, 10, 5), step(2000, 10, 20, 2), step(3000, 20, 30, 2, false)], { pass: false, maxSustainableRate: 2000 })
    expect(heading(renderReportHtml(stepped))).toBe('FAIL — max sustainable rate 2000/s')
    const none = result({ rate: 'max' }, [step(1000, 0, 10, 5, false)], { pass: false, maxSustainableRate: null })
    expect(heading(renderReportHtml(none))).toBe('FAIL — no rate sustained')
  })
})

describe('lag line: what it counts and why', () => {
  it('one step: the events counted of those published, after the warm-up', () => {
    const fixed = result({ rate: 1000 }, [step(1000, 0, 10, 5)])
    const line = 'p50 11 ms, p95 20 ms, p99 34 ms, max 50 ms over 5002 of 9996 events (after a 5 s warm-up); bound p99 < 2000 ms'
    expect(row(fixed, 'lag')).toBe(line)
    expect(renderReportHtml(fixed)).toContain(`<tr><th>lag</th><td>${line.replace('<', '&lt;')}</td></tr>`)
    expect(renderReportHtml(fixed)).toContain('<td>0-10 s (5 s warm-up)</td>')
  })

  it('several steps: each step’s warm-up', () => {
    const steps = [step(1000, 0, 10, 5), step(2000, 10, 20, 2), step(3000, 20, 30, 2)]
    expect(row(result({ rate: 'max' }, steps), 'lag')).toContain("over 5002 of 9996 events (after each step's warm-up: 5 s, then 2 s);")
    // --duration cut the last step short, and with it its warm-up.
    const cut = [...steps.slice(0, 2), step(3000, 20, 23, 0.8)]
    expect(row(result({ rate: 'max' }, cut), 'lag')).toContain("(after each step's warm-up: 7.8 s in all);")
  })

  it('nothing measured', () => {
    const empty = result({ rate: 1000 }, [step(1000, 0, 10, 5)])
    empty.summary.lag = { count: 0, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null }
    expect(row(empty, 'lag')).toBe('none measured: 0 of 9996 events (after a 5 s warm-up); bound p99 < 2000 ms')
  })
})

it('the report’s lag chart is scaled to the run’s lag, not to the bound', () => {
  const html = renderReportHtml(result({ rate: 1000 }, [step(1000, 0, 10, 5)]))
  const svg = /<svg id="chart-lag"[\s\S]*?<\/svg>/.exec(html)![0]
  expect(yTicks(svg).at(-1)).toBe('50') // p99 up to 35 ms
  expect(svg).toContain('bound 2000 ms: above this scale')
})

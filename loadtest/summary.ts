import type { LagSummary } from './percentiles.js'
import type { LoadtestConfig, LoadtestResult, StepRecord } from './types.js'

/** The summary as label/value rows: printed as the terminal table and in report.html. */
export function summaryRows(result: LoadtestResult): [string, string][] {
  const { summary, verdict, config } = result
  const stream = summary.stream
  const mode = config.rate === 'max' ? `max (search, ${config.stepSeconds} s probes)` : config.profile !== null ? config.profile.spec : `${config.rate}/s`
  const rows: [string, string][] = [
    ['verdict', verdict.pass ? 'PASS' : `FAIL: ${verdict.reasons.join('; ')}`],
    ['rate', mode],
    rateFinding(result),
    ['load', `${summary.loadSeconds} s, ${summary.published} events published, ${summary.offeredPerSec}/s offered`],
    ['lag', `${describeRunLag(summary.lag, summary.published, result.steps)}; bound p99 < ${config.maxLagMs} ms`],
    ['stream', `expected ${stream.expected}, delivered ${stream.delivered}, lost ${stream.lost}, duplicated ${stream.duplicated}, unexpected ${stream.unexpected}`],
    ['ingestor', `max RSS ${summary.maxRssMb ?? '?'} MiB, max CPU ${summary.maxCpuPercent ?? '?'}%, max queue ${summary.maxQueueFrames ?? '?'} frames, ${summary.reconnects ?? '?'} reconnects, ${summary.ingestorExit}`],
    ['drain', summary.drainSeconds === null ? `did not finish within ${config.drainTimeoutSec} s` : `${summary.drainSeconds} s`],
  ]
  if (summary.lagUnmeasured > 0) rows.push(['lag unmeasured', `${summary.lagUnmeasured} entries (sent too long ago for the publish clock)`])
  return rows
}

/** The report's heading: PASS or FAIL, then what the run found about rate (rateFinding, as a phrase). */
export function verdictHeadline(result: LoadtestResult): string {
  const { verdict, config } = result
  const head = verdict.pass ? 'PASS' : 'FAIL'
  if (searched(config)) return `${head} — ${verdict.maxSustainableRate === null ? 'no rate sustained' : `max sustainable rate ${verdict.maxSustainableRate}/s`}`
  const step = result.steps[0]
  return step === undefined ? head : `${head} — ${step.targetRate}/s ${step.sustained ? 'sustained' : 'not sustained'}`
}

/**
 * Only `--rate max` and a step profile try several rates, so only they have a "max sustainable
 * rate"; a fixed `--rate N` says whether N was held, and nothing about any higher rate.
 */
function rateFinding(result: LoadtestResult): [string, string] {
  const { verdict, config, steps } = result
  if (searched(config)) {
    if (verdict.maxSustainableRate === null) return ['max sustainable rate', 'none']
    return ['max sustainable rate', `${verdict.maxSustainableRate}/s${verdict.generatorLimited ? ' (at least: the replay server could not offer more)' : ''}`]
  }
  const step = steps[0]
  if (step === undefined) return ['sustained', 'not measured (the load ended before its first step did)']
  return ['sustained', step.sustained ? `yes, ${step.targetRate}/s` : `no: ${step.reason ?? 'not sustained'}`]
}

function searched(config: LoadtestConfig): boolean {
  return config.rate === 'max' || config.profile !== null
}

/**
 * The run's lag and what it counts. It covers fewer events than were published because entries
 * sent during a step's warm-up are left out (sampler.ts): the line says so, and for how long.
 */
function describeRunLag(lag: LagSummary, published: number, steps: StepRecord[]): string {
  const counted = `${lag.count} of ${published} events${warmupNote(steps)}`
  return lag.count === 0 ? `none measured: ${counted}` : `${percentiles(lag)} over ${counted}`
}

function warmupNote(steps: StepRecord[]): string {
  const [first, ...later] = steps.map((step) => step.warmupSec)
  if (first === undefined) return ''
  if (later.length === 0) return ` (after a ${first} s warm-up)`
  // Each later step has the same, shorter warm-up unless --duration cut the last one short.
  const each = new Set(later).size === 1 ? `${first} s, then ${later[0]} s` : `${Math.round((first + later.reduce((a, b) => a + b, 0)) * 10) / 10} s in all`
  return ` (after each step's warm-up: ${each})`
}

/** A step's lag: percentiles and how many events they cover. */
export function describeLag(lag: LagSummary): string {
  if (lag.count === 0) return 'no samples'
  return `${percentiles(lag)} (${lag.count} events)`
}

function percentiles(lag: LagSummary): string {
  return `p50 ${lag.p50Ms} ms, p95 ${lag.p95Ms} ms, p99 ${lag.p99Ms} ms, max ${lag.maxMs} ms`
}

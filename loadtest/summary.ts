import type { LagSummary } from './percentiles.js'
import type { LoadtestResult } from './types.js'

/** The summary as label/value rows: printed as the terminal table and in report.html. */
export function summaryRows(result: LoadtestResult): [string, string][] {
  const { summary, verdict, config } = result
  const stream = summary.stream
  const mode = config.rate === 'max' ? `max (search, ${config.stepSeconds} s probes)` : config.profile !== null ? config.profile.spec : `${config.rate}/s`
  const rows: [string, string][] = [
    ['verdict', verdict.pass ? 'PASS' : `FAIL: ${verdict.reasons.join('; ')}`],
    ['rate', mode],
    ['max sustainable rate', verdict.maxSustainableRate === null ? 'none' : `${verdict.maxSustainableRate}/s${verdict.generatorLimited ? ' (at least: the replay server could not offer more)' : ''}`],
    ['load', `${summary.loadSeconds} s, ${summary.published} events published, ${summary.offeredPerSec}/s offered`],
    ['lag (lag bound)', `${describeLag(summary.lag)} (< ${config.maxLagMs} ms)`],
    ['stream', `expected ${stream.expected}, delivered ${stream.delivered}, lost ${stream.lost}, duplicated ${stream.duplicated}, unexpected ${stream.unexpected}`],
    ['ingestor', `max RSS ${summary.maxRssMb ?? '?'} MiB, max CPU ${summary.maxCpuPercent ?? '?'}%, max queue ${summary.maxQueueFrames ?? '?'} frames, ${summary.reconnects ?? '?'} reconnects, ${summary.ingestorExit}`],
    ['drain', summary.drainSeconds === null ? `did not finish within ${config.drainTimeoutSec} s` : `${summary.drainSeconds} s`],
  ]
  if (summary.lagUnmeasured > 0) rows.push(['lag unmeasured', `${summary.lagUnmeasured} entries (sent too long ago for the publish clock)`])
  return rows
}

export function describeLag(lag: LagSummary): string {
  if (lag.count === 0) return 'no samples'
  return `p50 ${lag.p50Ms} ms, p95 ${lag.p95Ms} ms, p99 ${lag.p99Ms} ms, max ${lag.maxMs} ms (${lag.count} events)`
}

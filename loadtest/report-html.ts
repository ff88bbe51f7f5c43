import { describeLag, summaryRows, verdictHeadline } from './summary.js'
import { escapeHtml, lineChart } from './svg-chart.js'
import type { LoadtestResult } from './types.js'

/** report.html: one self-contained page (inline CSS and SVG, no script, no network). */
export function renderReportHtml(result: LoadtestResult): string {
  const { samples, steps, config, verdict } = result
  const t = samples.map((s) => s.t)
  const charts = [
    lineChart({
      id: 'chart-rate',
      title: 'Rate (events/s)',
      unit: 'events/s',
      t,
      series: [
        { name: 'target', color: '#888888', values: samples.map((s) => s.targetRate), dashed: true },
        { name: 'offered', color: '#1f77b4', values: samples.map((s) => s.offeredPerSec) },
        { name: 'ingested', color: '#2ca02c', values: samples.map((s) => s.ingestPerSec) },
      ],
    }),
    lineChart({
      id: 'chart-lag',
      title: 'End-to-end lag, frame sent -> entry in Redis (ms)',
      unit: 'ms',
      t,
      series: [
        { name: 'p50', color: '#2ca02c', values: samples.map((s) => s.lagP50Ms) },
        { name: 'p95', color: '#ff7f0e', values: samples.map((s) => s.lagP95Ms) },
        { name: 'p99', color: '#d62728', values: samples.map((s) => s.lagP99Ms) },
      ],
      guide: { value: config.maxLagMs, label: `bound ${config.maxLagMs} ms` },
    }),
    lineChart({ id: 'chart-rss', title: 'Ingestor RSS (MiB)', unit: 'MiB', t, series: [{ name: 'RSS', color: '#9467bd', values: samples.map((s) => s.rssMb) }] }),
    lineChart({ id: 'chart-cpu', title: 'Ingestor CPU (% of one core, all threads)', unit: '%', t, series: [{ name: 'CPU', color: '#8c564b', values: samples.map((s) => s.cpuPercent) }] }),
    lineChart({ id: 'chart-queue', title: 'Ingestor queue (frames between socket and Redis)', unit: 'frames', t, series: [{ name: 'queue', color: '#17becf', values: samples.map((s) => s.queueFrames) }] }),
  ]
  const summary = summaryRows(result)
    .map(([label, value]) => `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`)
    .join('')
  const stepRows = steps
    .map(
      (s) =>
        `<tr><td>${s.targetRate}</td><td>${s.fromT}-${s.toT} s (${s.warmupSec} s warm-up)</td><td>${s.offeredPerSec}</td><td>${escapeHtml(describeLag(s.lag))}</td><td class="${s.sustained ? 'ok' : 'bad'}">${s.sustained ? 'sustained' : escapeHtml(s.reason ?? 'not sustained')}</td></tr>`,
    )
    .join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>firehose loadtest ${escapeHtml(result.startedAt)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:820px}
h1{font-size:20px}.verdict{padding:8px 12px;border-radius:4px;font-weight:600}
.pass{background:#e3f5e1;color:#1b5e20}.fail{background:#fde2e1;color:#b71c1c}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
td.ok{color:#1b5e20}td.bad{color:#b71c1c}figure{margin:16px 0}figcaption{font-weight:600;margin-bottom:4px}
svg.chart text{font-size:11px;fill:#444}svg.chart .plot{fill:#fafafa;stroke:#ccc}svg.chart .grid{stroke:#e4e4e4}
svg.chart .guide{stroke:#d62728;stroke-dasharray:2 3}svg.chart .guide-label{fill:#d62728}
pre{background:#f5f5f5;padding:8px;overflow:auto}
</style></head><body>
<h1>firehose loadtest</h1>
<p class="verdict ${verdict.pass ? 'pass' : 'fail'}">${escapeHtml(verdictHeadline(result))}</p>
<p>Started ${escapeHtml(result.startedAt)}, fixture <code>${escapeHtml(config.fixture)}</code>, seed ${result.seed}, lag clock: ${result.lagClock === 'redis' ? 'Redis entry id time' : 'observer receive time'}.</p>
<table>${summary}</table>
${charts.join('\n')}
<h2>Steps</h2>
<table><tr><th>target/s</th><th>when</th><th>offered/s</th><th>lag</th><th>verdict</th></tr>${stepRows}</table>
<h2>Configuration</h2>
<pre>${escapeHtml(JSON.stringify(config, null, 2))}</pre>
</body></html>
`
}

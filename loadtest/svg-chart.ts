/**
 * A line chart as inline SVG, drawn here so the report needs no script or network. A null
 * value breaks the line. Every series becomes polylines tagged with data-series and
 * data-points, which the report test counts in the rendered page.
 */
export interface ChartSeries {
  name: string
  color: string
  values: (number | null)[]
  dashed?: boolean
}

export interface ChartSpec {
  id: string
  title: string
  unit: string
  /** Seconds of each value. */
  t: number[]
  series: ChartSeries[]
  /** A horizontal reference line (e.g. the lag bound), drawn when the data come near it (GUIDE_NEAR). */
  guide?: { value: number; label: string }
}

/**
 * The y axis follows the data; a guide stretches it only when the data reach 1/GUIDE_NEAR of
 * the guide. Stretched further, a 34 ms p99 under a 2,000 ms bound is a flat line on the axis.
 * Otherwise the guide is named above the plot as off the scale. Linear, not log: the gaps
 * between p50, p95 and p99 read directly in ms, and the bound matters once the data approach it.
 */
const GUIDE_NEAR = 2

const WIDTH = 760
const HEIGHT = 260
const PAD = { left: 64, right: 16, top: 34, bottom: 34 }

export function lineChart(spec: ChartSpec): string {
  const plotW = WIDTH - PAD.left - PAD.right
  const plotH = HEIGHT - PAD.top - PAD.bottom
  let dataMax = 0
  for (const series of spec.series) for (const v of series.values) if (v !== null && v > dataMax) dataMax = v
  const guide = spec.guide
  const guideOnScale = guide !== undefined && dataMax * GUIDE_NEAR >= guide.value
  const yMax = niceCeiling(Math.max(1, dataMax, guideOnScale ? guide.value : 0))
  const tMax = niceCeiling(Math.max(1, ...spec.t))
  const x = (t: number): number => round(PAD.left + (t / tMax) * plotW)
  const y = (v: number): number => round(PAD.top + plotH - (Math.max(0, v) / yMax) * plotH)

  const parts: string[] = []
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`)
    parts.push(`<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end">${formatNumber(v)}</text>`)
  }
  for (let i = 0; i <= 5; i++) {
    const t = (tMax * i) / 5
    parts.push(`<text x="${x(t)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${formatNumber(t)} s</text>`)
  }
  if (guide !== undefined && guideOnScale) {
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(guide.value)}" y2="${y(guide.value)}" class="guide"/>`)
    parts.push(`<text x="${WIDTH - PAD.right - 4}" y="${y(guide.value) - 4}" text-anchor="end" class="guide-label">${escapeHtml(guide.label)}</text>`)
  } else if (guide !== undefined) {
    parts.push(`<text x="${WIDTH - PAD.right - 4}" y="${PAD.top - 6}" text-anchor="end" class="guide-label">${escapeHtml(`${guide.label}: above this scale`)}</text>`)
  }
  spec.series.forEach((series, index) => {
    for (const run of segments(spec.t, series.values)) {
      const points = run.map(([t, v]) => `${x(t)},${y(v)}`).join(' ')
      parts.push(
        `<polyline data-series="${escapeHtml(series.name)}" data-points="${run.length}" points="${points}" fill="none" stroke="${series.color}" stroke-width="1.8"${series.dashed ? ' stroke-dasharray="5 4"' : ''}/>`,
      )
    }
    const lx = PAD.left + index * 150
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="14" y2="14" stroke="${series.color}" stroke-width="3"/><text x="${lx + 24}" y="18">${escapeHtml(series.name)}</text>`)
  })
  parts.push(`<text x="12" y="${PAD.top + plotH / 2}" transform="rotate(-90 12 ${PAD.top + plotH / 2})" text-anchor="middle">${escapeHtml(spec.unit)}</text>`)
  return (
    `<figure><figcaption>${escapeHtml(spec.title)}</figcaption>` +
    `<svg id="${spec.id}" class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(spec.title)}" xmlns="http://www.w3.org/2000/svg">` +
    `<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" class="plot"/>${parts.join('')}</svg></figure>`
  )
}

/** Runs of consecutive non-null points. */
function segments(t: number[], values: (number | null)[]): [number, number][][] {
  const runs: [number, number][][] = []
  let current: [number, number][] = []
  values.forEach((v, i) => {
    if (v === null || t[i] === undefined) {
      if (current.length > 0) runs.push(current)
      current = []
    } else current.push([t[i], v])
  })
  if (current.length > 0) runs.push(current)
  return runs
}

/** The next 1, 2 or 5 x 10^k at or above `value`, so axis ticks are round numbers. */
export function niceCeiling(value: number): number {
  const magnitude = Math.pow(10, Math.floor(Math.log10(value)))
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude
  return 10 * magnitude
}

function formatNumber(v: number): string {
  if (v >= 10_000) return `${Math.round(v / 1000)}k`
  return String(Math.round(v * 10) / 10)
}

const round = (v: number): number => Math.round(v * 10) / 10

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { renderReportHtml } from './report-html.js'
import type { LoadtestResult } from './types.js'

/** Writes DIR/report.json (everything: config, seed, samples, steps, summary, verdict) and DIR/report.html. */
export async function writeReports(dir: string, result: LoadtestResult): Promise<{ json: string; html: string }> {
  await mkdir(dir, { recursive: true })
  const json = join(dir, 'report.json')
  const html = join(dir, 'report.html')
  await writeFile(json, `${JSON.stringify(result, null, 2)}\n`)
  await writeFile(html, renderReportHtml(result))
  return { json, html }
}

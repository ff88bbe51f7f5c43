import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { redactUrl } from '../common/logger.js'
import { renderReportHtml } from './report-html.js'
import type { LoadtestResult } from './types.js'

/** Writes DIR/report.json (everything: config, seed, samples, steps, summary, verdict) and DIR/report.html. */
export async function writeReports(dir: string, result: LoadtestResult): Promise<{ json: string; html: string }> {
  await mkdir(dir, { recursive: true })
  const json = join(dir, 'report.json')
  const html = join(dir, 'report.html')
  // Reports get shared: the --redis URL goes in without its password.
  const { redisUrl } = result.config
  const shown = { ...result, config: { ...result.config, redisUrl: redisUrl === null ? null : redactUrl(redisUrl) } }
  await writeFile(json, `${JSON.stringify(shown, null, 2)}\n`)
  await writeFile(html, renderReportHtml(shown))
  return { json, html }
}

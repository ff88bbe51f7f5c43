import type { Command } from 'commander'
import { compressionFor } from '../../fixture-file/compression.js'
import { FixtureError } from '../../protocol/fixture/errors.js'
import type { FixtureInspection } from '../../fixture-file/index.js'
import { integer, nonEmpty, option } from '../options.js'
import { action, ExitCode } from '../run.js'
import { registerFixtureGenerate } from './fixture-generate.js'

/** `firehose fixture ...`: inspect, export, import (here) and generate (fixture-generate.ts) fixture files (docs/fixture-format.md). */
export function registerFixture(program: Command): void {
  const fixture = program.command('fixture').description('fixture files: inspect, convert to and from the plain length-prefixed form, generate')

  fixture
    .command('inspect')
    .description('manifest, counts per type and collection, frame sizes, seq range and jumps; exit 3 on a corrupt file')
    .argument('<file>', 'fixture file (.gz gzip, .zst zstd, else uncompressed)')
    .addOption(option('--json', 'print one JSON object instead of text', 'FIREHOSE_JSON'))
    .action(action((file: string, flags: { json?: boolean }) => guarded('inspect', () => inspect(file, flags.json === true))))

  fixture
    .command('export')
    .description('write every frame as [u32 little-endian length][frame bytes], no timing (the form other tools read)')
    .argument('<file>', 'fixture file')
    .addOption(option('--out <file>', 'length-prefixed output (.gz/.zst compress it)', 'FIREHOSE_OUT', nonEmpty).makeOptionMandatory())
    .action(action((file: string, flags: { out: string }) => guarded('export', () => exportFrames(file, flags.out))))

  fixture
    .command('import')
    .description('build a fixture from a length-prefixed file; seqs come from the frames, receive times are synthesized (start + i * interval)')
    .argument('<file>', 'length-prefixed input')
    .addOption(option('--out <file>', 'fixture to write (.gz/.zst by extension)', 'FIREHOSE_OUT', nonEmpty).makeOptionMandatory())
    .addOption(option('--source <url>', 'source recorded in the fixture header and manifest', 'FIREHOSE_SOURCE', nonEmpty))
    .addOption(option('--start-us <us>', 'receive time of the first frame, µs since the epoch', 'FIREHOSE_START_US', integer(0), 0))
    .addOption(option('--interval-us <us>', 'receive-time step between frames, µs', 'FIREHOSE_INTERVAL_US', integer(0, 3_600_000_000), 1000))
    .action(action((file: string, flags: { out: string; source?: string; startUs: number; intervalUs: number }) => guarded('import', () => importFrames(file, flags))))

  registerFixtureGenerate(fixture)
}

/** Fixture errors (missing, corrupt with its offset, unsupported) are one stderr line and exit 3. */
async function guarded(name: string, run: () => Promise<ExitCode>): Promise<ExitCode> {
  try {
    return await run()
  } catch (err) {
    if (!(err instanceof FixtureError)) throw err
    process.stderr.write(`firehose fixture ${name}: ${err.message} [${err.code}]\n`)
    return ExitCode.Error
  }
}

async function inspect(file: string, json: boolean): Promise<ExitCode> {
  const { inspectFixture } = await import('../../fixture-file/index.js')
  const report = await inspectFixture(file)
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatInspection(report))
  return ExitCode.Ok
}

async function exportFrames(file: string, out: string): Promise<ExitCode> {
  const { exportLengthPrefixed } = await import('../../fixture-file/index.js')
  const result = await exportLengthPrefixed(file, out)
  if (result.truncated) process.stderr.write(`firehose fixture export: ${file} was cut off mid-write; exported its ${result.frames} complete frames\n`)
  process.stdout.write(`exported ${result.frames} frames to ${out}\n`)
  return ExitCode.Ok
}

async function importFrames(file: string, flags: { out: string; source?: string; startUs: number; intervalUs: number }): Promise<ExitCode> {
  const { importLengthPrefixed } = await import('../../fixture-file/index.js')
  const manifest = await importLengthPrefixed(file, flags.out, {
    source: flags.source ?? null,
    startTimeUs: flags.startUs,
    intervalUs: flags.intervalUs,
  })
  process.stdout.write(`imported ${manifest.frameCount} frames (seq ${manifest.firstSeq ?? '-'} .. ${manifest.lastSeq ?? '-'}) into ${flags.out}\n`)
  return ExitCode.Ok
}

function formatInspection(report: FixtureInspection): string {
  const { manifest, seq, sizes } = report
  const lines: string[] = []
  const row = (label: string, value: string): number => lines.push(`${label.padEnd(14)}${value}`)
  row('file', `${report.path} (${formatBytes(report.fileBytes)}, ${compressionFor(report.path)})`)
  row('format', `version ${report.header.formatVersion}, created ${report.header.createdAt}, source ${report.header.source ?? '-'}`)
  row('state', report.truncated ? `TRUNCATED: cut off mid-write, manifest rebuilt from the ${manifest.frameCount} complete frames` : 'complete')
  row('recorded', `${manifest.recordedFrom ?? '-'} .. ${manifest.recordedTo ?? '-'}`)
  row('frames', String(manifest.frameCount))
  row('types', formatCounts(report.countsByType))
  if (sizes) {
    row('sizes (bytes)', `min ${sizes.min}  p50 ${sizes.p50}  p90 ${sizes.p90}  p99 ${sizes.p99}  max ${sizes.max}  mean ${sizes.mean}  total ${formatBytes(sizes.totalBytes)}`)
  }
  row('seq range', `${seq.first ?? '-'} .. ${seq.last ?? '-'} (${seq.framesWithoutSeq} frames without seq, ${seq.outOfOrder} out of order)`)
  const { jumps } = seq
  const largest = jumps.largest ? `; largest ${jumps.largest.afterSeq} -> ${jumps.largest.beforeSeq}` : ''
  row('seq jumps', `${jumps.count} jumps > 1, ${jumps.missingTotal} seqs not present${largest} (relays skip seqs: jumps alone are not loss)`)
  for (const jump of jumps.listed.slice(0, 10)) lines.push(`${''.padEnd(16)}${jump.afterSeq} -> ${jump.beforeSeq} (${jump.missing} missing)`)
  if (jumps.listed.length > 10) lines.push(`${''.padEnd(16)}... (--json lists ${jumps.listed.length})`)
  row('reported gaps', String(report.reportedGaps.length + (manifest.gapsOmitted ?? 0)))
  for (const gap of report.reportedGaps.slice(0, 10)) lines.push(`${''.padEnd(16)}${gap.afterSeq} -> ${gap.beforeSeq}${gap.note ? ` (${gap.note})` : ''}`)
  const decodeErrors = Object.entries(report.commitDecodeErrors)
  if (decodeErrors.length > 0) row('bad commits', formatCounts(report.commitDecodeErrors))
  const collections = Object.entries(report.collections).sort(([, a], [, b]) => total(b) - total(a))
  row('collections', collections.length === 0 ? '-' : `${collections.length} (ops: create / update / delete)`)
  const width = Math.max(0, ...collections.map(([name]) => name.length))
  for (const [name, counts] of collections) {
    lines.push(`  ${name.padEnd(width)}  ${String(counts.create).padStart(8)} ${String(counts.update).padStart(8)} ${String(counts.delete).padStart(8)}`)
  }
  if (manifest.meta !== undefined) row('meta', JSON.stringify(manifest.meta))
  return `${lines.join('\n')}\n`
}

function total(counts: { create: number; update: number; delete: number }): number {
  return counts.create + counts.update + counts.delete
}

function formatCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a)
  return entries.length === 0 ? '-' : entries.map(([name, count]) => `${name} ${count}`).join(', ')
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

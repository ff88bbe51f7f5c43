import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Command } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import { renderFlagTables } from '../../cli/docs/flag-tables.js'
import { SECTION_END, SECTION_START, spliceSection } from '../../cli/docs/generated-section.js'
import { integer, option } from '../../cli/options.js'
import { runNode } from '../support/cli.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PAGE = join(ROOT, 'docs/cli.md')
// The generator runs from the build, as `npm run docs:flags` does (`npm test` builds first).
const GENERATOR = join(ROOT, 'dist/cli/docs/update-flags-doc.js')

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup()
})

function tempCopy(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'flags-doc-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'cli.md')
  writeFileSync(file, text)
  return file
}

describe('docs/cli.md and the CLI', () => {
  it('the flag tables are what the CLI defines (after changing a flag: npm run docs:flags)', async () => {
    const result = await runNode([GENERATOR, '--check'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
  })

  it('--check fails on a page that lacks a flag and names the fix; without --check the page is rewritten to match', async () => {
    const page = readFileSync(PAGE, 'utf8')
    const stale = page.replace(/^\| `--stall-timeout <seconds>` \|.*\n/m, '')
    expect(stale).not.toBe(page)
    const file = tempCopy(stale)

    const checked = await runNode([GENERATOR, '--check', file])
    expect(checked.code).toBe(1)
    expect(checked.stderr).toMatch(/is out of date with the CLI \(first difference at line \d+: .*--stall-timeout.*\); run `npm run docs:flags`/)
    expect(readFileSync(file, 'utf8')).toBe(stale)

    const written = await runNode([GENERATOR, file])
    expect(written.code).toBe(0)
    expect(readFileSync(file, 'utf8')).toBe(page)
  })

  it('a page without the marker comments is refused (exit 2), not overwritten', async () => {
    const file = tempCopy('# no markers\n')
    const result = await runNode([GENERATOR, file])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(SECTION_START)
    expect(readFileSync(file, 'utf8')).toBe('# no markers\n')
  })

  it('reads the program cli/index.js runs (cli/program.ts): a flag added to a command changes the page', async () => {
    type Builder = typeof import('../../cli/program.js')
    const { buildProgram } = (await import(pathToFileURL(join(ROOT, 'dist/cli/program.js')).href)) as Builder
    const program = buildProgram()
    expect(program.commands.map((command) => command.name())).toEqual(expect.arrayContaining(['demo', 'fixture', 'ingest', 'loadtest', 'record', 'replay', 'scenario', 'verify']))
    const ingest = program.commands.find((command) => command.name() === 'ingest')!
    const page = readFileSync(PAGE, 'utf8')
    const added = option('--undocumented-flag <n>', 'a flag nobody documented', 'FIREHOSE_UNDOCUMENTED_FLAG', integer(1), 7)
    // A fresh program of this test's own: nothing to put back.
    ingest.addOption(added)
    const rendered = spliceSection(page, renderFlagTables(program, ROOT))
    expect(rendered).not.toBe(page)
    expect(rendered).toContain('| `--undocumented-flag <n>` | `FIREHOSE_UNDOCUMENTED_FLAG` | `7` | a flag nobody documented |')
  })
})

describe('renderFlagTables', () => {
  const root = '/pkg'

  function program(): Command {
    const top = new Command('tool')
    top
      .command('zeta')
      .description('the <last> one')
      .argument('<name>', 'a name')
      .argument('[files...]', 'optional inputs')
      .addOption(option('--mode <a|b>', 'pick a|b, *not* <c>', 'TOOL_MODE', undefined, 'a'))
      .addOption(option('--file <path>', 'a file', 'TOOL_FILE', undefined, '/pkg/fixtures/x.gz'))
      .addOption(option('--outside <path>', 'a file elsewhere', 'TOOL_OUTSIDE', undefined, '/elsewhere/y.gz'))
      .addOption(option('--out <file>', 'output', 'TOOL_OUT').makeOptionMandatory())
      .addOption(option('--on', 'an on/off flag', 'TOOL_ON'))
      .addOption(option('--unset <n>', 'no default', 'TOOL_UNSET'))
      .addOption(option('--secret', 'not shown', 'TOOL_SECRET').hideHelp())
    const group = top.command('alpha').description('a group')
    group
      .command('two')
      .description('second')
      .addOption(option('--x', 'x', 'TOOL_X'))
    group.command('one').description('first')
    top.command('hidden', { hidden: true })
    return top
  }

  it('one heading per command in alphabetical order, subcommands nested, hidden ones and help left out', () => {
    const headings = renderFlagTables(program(), root)
      .split('\n')
      .filter((line) => line.startsWith('#'))
    expect(headings).toEqual(['## `tool alpha`', '### `tool alpha one`', '### `tool alpha two`', '## `tool zeta`'])
  })

  it('a row per flag: env var, default (required, off, —, paths inside the package relative), escaped meaning', () => {
    const text = renderFlagTables(program(), root)
    expect(text).toContain('```\ntool zeta [options] <name> [files...]\n```')
    expect(text).toContain('- `<name>`: a name\n- `[files...]` (optional): optional inputs')
    expect(text).toContain('the &lt;last&gt; one')
    expect(text).toContain('| `--mode <a\\|b>` | `TOOL_MODE` | `a` | pick a\\|b, \\*not\\* &lt;c&gt; |')
    expect(text).toContain('| `--file <path>` | `TOOL_FILE` | `fixtures/x.gz` | a file |')
    expect(text).toContain('| `--outside <path>` | `TOOL_OUTSIDE` | `/elsewhere/y.gz` | a file elsewhere |')
    expect(text).toContain('| `--out <file>` | `TOOL_OUT` | required | output |')
    expect(text).toContain('| `--on` | `TOOL_ON` | off | an on/off flag |')
    expect(text).toContain('| `--unset <n>` | `TOOL_UNSET` | — | no default |')
    expect(text).not.toContain('--secret')
    expect(text).not.toContain('--help')
  })
})

describe('spliceSection', () => {
  it('replaces only what is between the markers, and is stable when run again', () => {
    const page = `# Title\n\nbefore\n\n${SECTION_START}\nold\n${SECTION_END}\n\nafter\n`
    const once = spliceSection(page, 'new')
    expect(once).toBe(`# Title\n\nbefore\n\n${SECTION_START}\n\nnew\n\n${SECTION_END}\n\nafter\n`)
    expect(spliceSection(once, 'new')).toBe(once)
  })

  it('throws when a marker is missing or they are out of order', () => {
    expect(() => spliceSection('no markers', 'x')).toThrow(/no generated section/)
    expect(() => spliceSection(`${SECTION_END}\n${SECTION_START}`, 'x')).toThrow(/no generated section/)
  })
})

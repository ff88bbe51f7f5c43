import { readFileSync, writeFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderFlagTables } from './flag-tables.js'
import { spliceSection } from './generated-section.js'
import { buildProgram } from '../program.js'

/**
 * `npm run docs:flags`: rewrites the flag tables of docs/cli.md from the built CLI program.
 * `--check` writes nothing and exits 1 when the page is not what the program defines (CI runs it
 * in test/cli/flags-doc.test.ts, so a flag without docs fails). Exit 2: bad arguments or no
 * marker comments in the page.
 *   node dist/cli/docs/update-flags-doc.js [--check] [PAGE]
 */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

const args = process.argv.slice(2)
const check = args.includes('--check')
const rest = args.filter((arg) => arg !== '--check')
if (rest.length > 1 || rest.some((arg) => arg.startsWith('-'))) {
  process.stderr.write('usage: update-flags-doc [--check] [PAGE] (default docs/cli.md)\n')
  process.exit(2)
}
const page = rest[0] ?? `${PACKAGE_ROOT}docs/cli.md`

// An option's environment fallback is decided when it is constructed (an on/off flag whose
// variable is set to 0 has none: cli/options.ts): the tables describe the CLI as a clean
// environment sees it, the same on every machine.
for (const name of Object.keys(process.env)) delete process.env[name]

const current = readFileSync(page, 'utf8')
let wanted: string
try {
  wanted = spliceSection(current, renderFlagTables(buildProgram(), PACKAGE_ROOT))
} catch (err) {
  process.stderr.write(`${page}: ${(err as Error).message}\n`)
  process.exit(2)
}
const shown = relative(process.cwd(), page) || page

if (wanted === current) {
  process.stdout.write(`${shown}: the flag tables match the CLI\n`)
} else if (check) {
  const line = firstDifference(current, wanted)
  process.stderr.write(`${shown} is out of date with the CLI (first difference at line ${line.number}: ${JSON.stringify(line.page)}, the CLI gives ${JSON.stringify(line.wanted)}); run \`npm run docs:flags\`\n`)
  process.exitCode = 1
} else {
  writeFileSync(page, wanted)
  process.stdout.write(`${shown}: flag tables rewritten from the CLI\n`)
}

function firstDifference(a: string, b: string): { number: number; page: string; wanted: string } {
  const left = a.split('\n')
  const right = b.split('\n')
  let i = 0
  while (i < left.length && i < right.length && left[i] === right[i]) i++
  return { number: i + 1, page: left[i] ?? '(end of file)', wanted: right[i] ?? '(end of file)' }
}

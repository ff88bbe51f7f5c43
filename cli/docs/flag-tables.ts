import { isAbsolute, relative } from 'node:path'
import type { Argument, Command, Option } from 'commander'

/**
 * Markdown for every command of a commander program: a heading, the description, the usage line,
 * the positional arguments and one table of flags (flag, environment variable, default, meaning),
 * read from the Option objects the commands define (cli/commands/*.ts), so the page cannot say
 * anything the CLI does not do. Commands in alphabetical order; hidden commands and options left out.
 */
export function renderFlagTables(program: Command, packageRoot: string): string {
  return subcommands(program)
    .map((command) => renderCommand(command, packageRoot, 2))
    .join('\n\n')
}

function renderCommand(command: Command, packageRoot: string, depth: number): string {
  const parts = [`${'#'.repeat(depth)} \`${commandPath(command)}\``, '', escapeText(command.description())]
  const nested = subcommands(command)
  if (nested.length === 0) {
    parts.push('', `\`\`\`\n${commandPath(command)} ${command.usage()}\n\`\`\``)
    const args = command.createHelp().visibleArguments(command)
    if (args.length > 0) parts.push('', ...args.map(renderArgument))
    const options = visibleOptions(command)
    if (options.length > 0) parts.push('', renderTable(options, packageRoot))
  }
  for (const sub of nested) parts.push('', renderCommand(sub, packageRoot, depth + 1))
  return parts.join('\n')
}

/** The command's own subcommands (not commander's implicit `help`), hidden ones left out. */
function subcommands(command: Command): Command[] {
  return command
    .createHelp()
    .visibleCommands(command)
    .filter((sub) => command.commands.includes(sub))
    .sort((a, b) => a.name().localeCompare(b.name()))
}

/** The command's own options (not the implicit `--help`), hidden ones left out. */
function visibleOptions(command: Command): Option[] {
  return command
    .createHelp()
    .visibleOptions(command)
    .filter((opt) => command.options.includes(opt))
}

function commandPath(command: Command): string {
  const names: string[] = []
  for (let at: Command | null = command; at !== null; at = at.parent) names.unshift(at.name())
  return names.join(' ')
}

function renderArgument(arg: Argument): string {
  const shown = `${arg.name()}${arg.variadic ? '...' : ''}`
  return `- \`${arg.required ? `<${shown}>` : `[${shown}]`}\`${arg.required ? '' : ' (optional)'}: ${escapeText(arg.description)}`
}

function renderTable(options: Option[], packageRoot: string): string {
  const rows = options.map((opt) => [code(opt.flags), opt.envVar === undefined ? '—' : code(opt.envVar), defaultCell(opt, packageRoot), escapeText(opt.description)])
  return ['| flag | env var | default | meaning |', '| --- | --- | --- | --- |', ...rows.map((cells) => `| ${cells.join(' | ')} |`)].join('\n')
}

/** `required` for a mandatory flag, `off` for an on/off flag, `—` for a value flag that is unset unless given (its meaning says what then). */
function defaultCell(opt: Option, packageRoot: string): string {
  if (opt.mandatory) return 'required'
  if (opt.defaultValueDescription !== undefined) return escapeText(opt.defaultValueDescription)
  const value: unknown = opt.defaultValue
  if (value === undefined) return opt.required || opt.optional ? '—' : 'off'
  if (typeof value === 'string') return code(packagePath(value, packageRoot))
  return code(Array.isArray(value) ? value.map((item) => String(item)).join(',') : JSON.stringify(value))
}

/** A default inside the package (a committed fixture) is shown relative to it: the absolute path differs on every machine. */
function packagePath(value: string, packageRoot: string): string {
  if (!isAbsolute(value)) return value
  const inside = relative(packageRoot, value)
  return inside.startsWith('..') || isAbsolute(inside) ? value : inside
}

function code(text: string): string {
  return `\`${text.replaceAll('|', '\\|')}\``
}

/** Table cells and paragraphs: a `|` would end the cell, `<word>` would be read as HTML, `*` as emphasis. */
function escapeText(text: string): string {
  return text.replace(/\s+/g, ' ').trim().replaceAll('|', '\\|').replaceAll('*', '\\*').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

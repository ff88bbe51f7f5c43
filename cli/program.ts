import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { redactUsageError } from './options.js'
import { registerBackfill } from './commands/backfill.js'
import { registerCompare } from './commands/compare.js'
import { registerDemo } from './commands/demo.js'
import { registerFixture } from './commands/fixture.js'
import { registerIngest } from './commands/ingest.js'
import { registerLoadtest } from './commands/loadtest.js'
import { registerRecord } from './commands/record.js'
import { registerReplay } from './commands/replay.js'
import { registerRepo } from './commands/repo.js'
import { registerScenario } from './commands/scenario.js'
import { registerVerify } from './commands/verify.js'

/**
 * The `firehose` program, every command registered, not run: cli/index.ts parses argv with it,
 * cli/docs/ renders its flag tables. Options read their environment fallbacks when they are
 * built (cli/options.ts), so the caller decides which environment that is.
 */
export function buildProgram(): Command {
  // dist/cli/program.js -> the package root: `firehose --version` is the package's version.
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  // Subcommands inherit the error output: a usage error is one line with a pointer to --help, never the whole help.
  const program = new Command('firehose')
    .description('AT Protocol firehose tools: ingest into Redis, record, replay, verify, test')
    .version(version, '-V, --version')
    .showHelpAfterError(false)
    .configureOutput({ outputError: (message, write) => write(`${redactUsageError(message.trimEnd())} (see --help)\n`) })
    .exitOverride()
  // Each command lives in its own file under cli/commands/.
  for (const register of [registerVerify, registerCompare, registerScenario, registerIngest, registerDemo, registerRecord, registerReplay, registerRepo, registerBackfill, registerFixture, registerLoadtest])
    register(program)
  return program
}

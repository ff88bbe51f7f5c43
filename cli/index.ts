#!/usr/bin/env -S node --max-semi-space-size=4
import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { redactUsageError } from './options.js'
import { ExitCode } from './run.js'
import { registerVerify } from './commands/verify.js'
import { registerScenario } from './commands/scenario.js'
import { registerIngest } from './commands/ingest.js'
import { registerDemo } from './commands/demo.js'
import { registerRecord } from './commands/record.js'
import { registerReplay } from './commands/replay.js'
import { registerFixture } from './commands/fixture.js'
import { registerLoadtest } from './commands/loadtest.js'

// dist/cli/index.js -> the package root: `firehose --version` is the package's version.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

// `firehose scenario --list | head`: a reader that closed the pipe wants no more output; that
// is not an error of ours (without this, Node throws EPIPE with a stack trace).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
  process.exit(ExitCode.Ok)
})

// Wiring only: each command lives in its own file under cli/commands/. Subcommands inherit the
// error output: a usage error is one line with a pointer to --help, never the whole help.
const program = new Command('firehose')
  .description('AT Protocol firehose tools: ingest into Redis, record, replay, verify, test')
  .version(version, '-V, --version')
  .showHelpAfterError(false)
  .configureOutput({ outputError: (message, write) => write(`${redactUsageError(message.trimEnd())} (see --help)\n`) })
  .exitOverride()

for (const register of [registerVerify, registerScenario, registerIngest, registerDemo, registerRecord, registerReplay, registerFixture, registerLoadtest] as ((program: Command) => void)[]) register(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; every other parse failure is a usage error (exit 2).
    process.exitCode = err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage
  } else {
    throw err
  }
}

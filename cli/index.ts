#!/usr/bin/env -S node --max-semi-space-size=2
import { CommanderError } from 'commander'
import { buildProgram } from './program.js'
import { ExitCode } from './run.js'

// `firehose scenario --list | head`: a reader that closed the pipe wants no more output; that
// is not an error of ours (without this, Node throws EPIPE with a stack trace).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
  process.exit(ExitCode.Ok)
})

try {
  await buildProgram().parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; every other parse failure is a usage error (exit 2).
    process.exitCode = err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage
  } else {
    throw err
  }
}

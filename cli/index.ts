#!/usr/bin/env node
import { Command, CommanderError } from 'commander'
import { ExitCode } from './run.js'
import { registerVerify } from './commands/verify.js'
import { registerScenario } from './commands/scenario.js'
import { registerIngest } from './commands/ingest.js'
import { registerDemo } from './commands/demo.js'
import { registerRecord } from './commands/record.js'
import { registerReplay } from './commands/replay.js'
import { registerFixture } from './commands/fixture.js'
import { registerLoadtest } from './commands/loadtest.js'

// Wiring only: each command lives in its own file under cli/commands/.
const program = new Command('firehose')
  .description('AT Protocol firehose tools: ingest into Redis, record, replay, verify, test')
  .showHelpAfterError()
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

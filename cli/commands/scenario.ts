import type { Command } from 'commander'
import { createLogger } from '../../common/logger.js'
import { SeededRandom } from '../../common/random.js'
import { integer, option } from '../options.js'
import { loadCommandTools } from '../dev-tools.js'
import { action, ExitCode } from '../run.js'

interface ScenarioFlags {
  seed?: number
  list?: boolean
  verbose?: boolean
}

/** `firehose scenario NAME`: runs one harness scenario and prints its one-line JSON result. */
export function registerScenario(program: Command): void {
  program
    .command('scenario')
    .description('run one crash/fault scenario (replay -> ingestor child -> Redis, then check the stream); prints one JSON line, exit 1 on failure')
    .argument('[name]', 'scenario name (--list shows them)')
    .addOption(option('--seed <n>', 'seed for kill points and fault timing (default: fresh, printed)', 'FIREHOSE_SEED', integer(0, 0xffff_ffff)))
    .addOption(option('--list', 'list the scenarios and exit', 'FIREHOSE_SCENARIO_LIST'))
    .addOption(option('--verbose', 'harness and replay logs on stderr', 'FIREHOSE_VERBOSE'))
    .action(action(scenario))
}

async function scenario(name: string | undefined, flags: ScenarioFlags): Promise<ExitCode> {
  // Loaded here so that other commands do not pay for the harness (and the production image can leave it out).
  const harness = await loadCommandTools('scenario', () => import('../../harness/scenarios/index.js'))
  if (harness === null) return ExitCode.Usage
  const { findScenario, runScenario, SCENARIOS } = harness
  if (flags.list === true) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(28)} ${s.description}\n`)
    return ExitCode.Ok
  }
  const found = name === undefined ? undefined : findScenario(name)
  if (found === undefined) {
    process.stderr.write(`firehose scenario: ${name === undefined ? 'give a scenario name' : `unknown scenario "${name}"`}; one of: ${SCENARIOS.map((s) => s.name).join(', ')}\n`)
    return ExitCode.Usage
  }
  const seed = flags.seed ?? SeededRandom.freshSeed()
  const logger = flags.verbose === true ? createLogger({ name: 'firehose-scenario' }) : undefined
  const result = await runScenario(found, { seed, ...(logger === undefined ? {} : { logger }) })
  process.stdout.write(`${JSON.stringify(result)}\n`)
  if (!result.ok) process.stderr.write(`scenario ${result.scenario} FAILED (seed ${seed}): ${result.failures.join('; ')}\nreproduce: ${result.reproduce}\n`)
  return result.ok ? ExitCode.Ok : ExitCode.Failed
}

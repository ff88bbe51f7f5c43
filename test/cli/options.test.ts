import { Command } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { option } from '../../cli/options.js'
import { repoRoot } from '../ingestor/helpers.js'

const ENV = 'FIREHOSE_TEST_ONOFF_FLAG'

function parsed(env: string | undefined, argv: string[] = []): boolean | undefined {
  if (env === undefined) delete process.env[ENV]
  else process.env[ENV] = env
  const program = new Command('t').exitOverride().addOption(option('--onoff', 'an on/off flag', ENV))
  program.parse(argv, { from: 'user' })
  return program.opts<{ onoff?: boolean }>().onoff
}

afterEach(() => {
  delete process.env[ENV]
})

describe('an on/off flag and its environment variable', () => {
  it.each(['1', 'true', 'yes', 'on', 'TRUE'])('%j turns it on', (value) => {
    expect(parsed(value)).toBe(true)
  })

  it.each(['', '0', 'false', 'no', 'off', ' False '])('%j leaves it off (commander alone would turn it on for any value)', (value) => {
    expect(parsed(value)).toBeUndefined()
  })

  it('the flag on the command line wins over an off variable; unset is off', () => {
    expect(parsed('0', ['--onoff'])).toBe(true)
    expect(parsed(undefined)).toBeUndefined()
  })
})

describe('per-repo state is on unless turned off: --no-repo-state or FIREHOSE_NO_REPO_STATE, and FIREHOSE_REPO_STATE=0 does not turn it off by accident', () => {
  const ingestFlags = async (argv: string[], env: Record<string, string> = {}): Promise<boolean | undefined> => {
    const saved = { ...process.env }
    Object.assign(process.env, env)
    try {
      // The built program (it reads the package's version from beside dist/), as users run it.
      const { buildProgram } = (await import(join(repoRoot, 'dist/cli/program.js'))) as typeof import('../../cli/program.js')
      const ingest = buildProgram().commands.find((command) => command.name() === 'ingest')!
      ingest.exitOverride().action(() => undefined)
      await ingest.parseAsync(argv, { from: 'user' })
      return ingest.opts<{ repoState?: boolean }>().repoState
    } finally {
      process.env = saved
    }
  }

  it('on by default and with --repo-state; off with --no-repo-state or FIREHOSE_NO_REPO_STATE=1', async () => {
    expect(await ingestFlags([])).toBe(true)
    expect(await ingestFlags(['--repo-state'])).toBe(true)
    expect(await ingestFlags(['--no-repo-state'])).toBe(false)
    expect(await ingestFlags([], { FIREHOSE_NO_REPO_STATE: '1' })).toBe(false)
    expect(await ingestFlags([], { FIREHOSE_NO_REPO_STATE: '0' })).toBe(true)
    expect(await ingestFlags([], { FIREHOSE_REPO_STATE: '0' })).toBe(true)
  })
})

import { Command } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import { option } from '../../cli/options.js'

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

import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const LOGGER = fileURLToPath(new URL('../../dist/common/logger.js', import.meta.url))

describe('createLogger redacts credentials everywhere in a line', () => {
  it('message, nested fields, error messages, error causes and error properties', () => {
    // The real logger writes JSON to fd 2: run it in a child and read what it wrote.
    const script = `
      import { createLogger } from ${JSON.stringify(LOGGER)}
      const log = createLogger({ name: 't', pretty: false })
      const cause = new Error('connect redis://u:pw-cause@h:1 failed')
      cause.url = 'rediss://u:pw-prop@h:1'
      log.error({ err: new Error('outer', { cause }), deep: { a: { b: { c: { d: { e: 'redis://:pw-deep@h' } } } } }, list: ['redis://u:pw-list@h'] }, 'boom redis://u:pw-msg@h')
    `
    const { stderr } = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    const line = JSON.parse(stderr.trim()) as Record<string, unknown>
    expect(stderr).not.toMatch(/pw-/)
    expect(line.msg).toBe('boom redis://***@h')
    expect(JSON.stringify(line)).toContain('redis://***@h:1 failed')
  })
})

describe('createLogger serializes `err` by what it is', () => {
  it('an Error with its type, message, code and stack; a reason object as it is (not {"type":"Object","stack":""}), both redacted', () => {
    const script = `
      import { createLogger } from ${JSON.stringify(LOGGER)}
      const log = createLogger({ name: 't', pretty: false })
      log.warn({ err: Object.assign(new Error('getaddrinfo ENOTFOUND nohost'), { code: 'ENOTFOUND' }) }, 'an error')
      log.warn({ err: { message: 'OOM command not allowed', key: 'redis://u:pw-reason@h' } }, 'a reason')
    `
    const { stderr } = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    const [error, reason] = stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { err: Record<string, unknown> })
    expect(error!.err).toMatchObject({ type: 'Error', message: 'getaddrinfo ENOTFOUND nohost', code: 'ENOTFOUND', stack: expect.stringContaining('Error: getaddrinfo') })
    expect(reason!.err).toEqual({ message: 'OOM command not allowed', key: 'redis://***@h' })
  })
})

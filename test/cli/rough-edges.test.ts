import { readFileSync } from 'node:fs'
import { InvalidArgumentError } from 'commander'
import { describe, it } from 'vitest'
import { quoteValue, redactText, redactUrl } from '../../common/logger.js'
import { redactUsageError, redisUrl, relayUrl } from '../../cli/options.js'
import { runCli, runNode } from '../support/cli.js'

const SECRET = 'hunter2-topsecret'

// Every case runs its own CLI children and shares nothing with the others: concurrent.
describe.concurrent('CLI rough edges', () => {
  it('--version prints the package version', async ({ expect }) => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    for (const flag of ['--version', '-V']) {
      const result = await runCli([flag])
      expect(result.code).toBe(0)
      expect(result.stdout.trim()).toBe(version)
    }
  })

  it.for([
    [['replay', '--bogus', 'x.gz'], /unknown option '--bogus'/],
    [['replay', '--port', '99999', 'x.gz'], /--port/],
    [['record', '--relay', 'bsky.network'], /required option '--out <file>'/],
    [['record', '--relay', 'not-a-url', '--out', 'x.gz'], /not a relay/],
    [['fixture', 'generate', '--out', 'x.gz', '--events', '1e12'], /expected an integer/],
    [['fixture', 'generate', '--out', 'x.gz', '--events', '1000000000000'], /from 1 to 1000000/],
    [['fixture', 'generate', '--out', 'x.gz', '--events', '10', '--accounts', '10000000'], /--accounts/],
    [['ingest', '--relay', 'not-a-url'], /"not-a-url" is not a relay/],
    [['verify'], /error:/],
    [['bogus'], /unknown command 'bogus'/],
  ] as const)('%j: exit 2, one line with the reason and a pointer to --help, no help dump', async ([args, reason], { expect }) => {
    const result = await runCli(args)
    expect(result.code).toBe(2)
    const lines = result.stderr.trim().split('\n')
    expect(lines, result.stderr).toHaveLength(1)
    expect(lines[0]).toMatch(reason)
    expect(lines[0]).toMatch(/\(see --help\)$/)
    expect(result.stdout).toBe('')
  })

  it('a malformed Redis URL never shows its password (commander quotes the raw value; the env fallback too)', async ({ expect }) => {
    for (const bad of [`redis://:${SECRET}/x@h:1`, `redis://u:${SECRET}@h:1/abc`, `redis://u:${SECRET}%zz@h:1`]) {
      for (const result of [await runCli(['ingest', '--redis', bad]), await runCli(['ingest'], { env: { REDIS_URL: bad } })]) {
        expect(result.code).toBe(2)
        expect(result.stderr).toMatch(/--redis/)
        expect(result.stderr).not.toContain(SECRET)
      }
    }
  })

  it.for([
    // [variables, the value as the message must quote it, the reason]
    [{ REDIS_URL: 'redis://a b' }, `value "redis://a b" from env 'REDIS_URL'`, 'bad Redis URL "redis://a b": not a URL'],
    [{ REDIS_URL: `redis://:${SECRET}@host:1/x y` }, `value "redis://***@host:1/x y" from env 'REDIS_URL'`, 'bad Redis URL "redis://***@host:1/x y": the path must be a database number'],
    [{ REDIS_URL: `redis://u:${SECRET} x@h y:1` }, `value "redis://***@h y:1" from env 'REDIS_URL'`, 'bad Redis URL "redis://***@h y:1": not a URL'],
    [{ REDIS_URL: 'redis://h/say "hi"' }, String.raw`value "redis://h/say \"hi\"" from env 'REDIS_URL'`, 'the path must be a database number'],
    [{ RELAY_URL: 'ws://relay host' }, `value "ws://relay host" from env 'RELAY_URL'`, 'not a valid URL: "ws://relay host"'],
  ] as const)('env %j with a space: exit 2, one line quoting the value as given (JSON quotes, not percent-encoded, password redacted)', async ([env, value, reason], { expect }) => {
    const result = await runCli(['ingest'], { env })
    expect(result.code).toBe(2)
    const lines = result.stderr.trim().split('\n')
    expect(lines, result.stderr).toHaveLength(1)
    expect(lines[0]).toContain(value)
    expect(lines[0]).toContain(reason)
    expect(lines[0]).not.toContain('%20')
    expect(lines[0]).not.toContain(SECRET)
  })

  it('a configuration refused after parsing (exit 4) quotes the URL the same way, a password with a space redacted', async ({ expect }) => {
    const result = await runCli(['ingest', '--redis', `redis://:${SECRET} x@127.0.0.1:1/0`, '--redis-ca', 'ca.pem'], { env: { FIREHOSE_LOG_LEVEL: 'silent' } })
    expect(result.code).toBe(4)
    expect(result.stderr.trim().split('\n'), result.stderr).toEqual(['firehose ingest: TLS options (caFile) need a rediss:// URL, got "redis://***@127.0.0.1:1/0" [REDIS_TLS]'])
  })

  it('quoteValue: the value as given in JSON quotes, userinfo redacted where the URL parser finds it', ({ expect }) => {
    expect(quoteValue('redis://127.0.0.1:6379/2')).toBe('"redis://127.0.0.1:6379/2"')
    expect(quoteValue(`redis://u:${SECRET}@h:1/0`)).toBe('"redis://***@h:1/0"')
    expect(quoteValue(`rediss://:${SECRET}@h`)).toBe('"rediss://***@h"')
    expect(quoteValue(`redis://:${SECRET} x@h:1`)).toBe('"redis://***@h:1"') // parses: the space is percent-encoded in the password
    expect(quoteValue(`https://u:${SECRET}@h/a@b?c@d`)).toBe('"https://***@h/a@b?c@d"') // @ after the authority stays
    expect(quoteValue(`wss:u:${SECRET}@h`)).toBe('"wss:***@h"') // special scheme: no slashes needed
    expect(quoteValue(`redis://:${SECRET}/x@h:1`)).toBe('"redis://***@h:1"') // does not parse: everything before the last @
    expect(quoteValue('ws://a b')).toBe('"ws://a b"')
    expect(quoteValue('say "hi"\n')).toBe(String.raw`"say \"hi\"\n"`)
  })

  it('verify: a failing --replay URL is quoted without its password (the fetch error carries it whole)', async ({ expect }) => {
    const fixture = new URL('../../fixtures/generated.fixture.gz', import.meta.url).pathname
    const result = await runCli(['verify', '--fixture', fixture, '--redis', 'redis://127.0.0.1:1', '--replay', `http://u:${SECRET}@127.0.0.1:1`])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^firehose verify: .*http:\/\/\*\*\*@127\.0\.0\.1:1/)
    expect(result.stderr).not.toContain(SECRET)
  })

  it('relayUrl: a bare host needs a dot, localhost or an IP (port optional); with a scheme any host goes', ({ expect }) => {
    const xrpc = '/xrpc/com.atproto.sync.subscribeRepos'
    expect(relayUrl('bsky.network')).toBe(`wss://bsky.network${xrpc}`)
    expect(relayUrl('relay.example.com:8443')).toBe(`wss://relay.example.com:8443${xrpc}`)
    expect(relayUrl('localhost:2470')).toBe(`wss://localhost:2470${xrpc}`)
    expect(relayUrl('127.0.0.1:2470')).toBe(`wss://127.0.0.1:2470${xrpc}`)
    expect(relayUrl('[::1]:2470')).toBe(`wss://[::1]:2470${xrpc}`)
    expect(relayUrl('ws://replay:2470')).toBe(`ws://replay:2470${xrpc}`)
    for (const typo of ['not-a-url', 'relay:2470', 'bsky.', 'bsky.123', '-bad.example']) expect(() => relayUrl(typo), typo).toThrow(InvalidArgumentError)
  })

  it('redisUrl rejects what would connect somewhere else, and says so without the password', ({ expect }) => {
    expect(redisUrl('redis://127.0.0.1:6379/2')).toBe('redis://127.0.0.1:6379/2')
    for (const bad of [`redis://:${SECRET}@h/abc`, `redis://:${SECRET}@h/0?db=3`, `http://:${SECRET}@h`]) {
      expect(() => redisUrl(bad)).toThrow(InvalidArgumentError)
      try {
        redisUrl(bad)
      } catch (err) {
        expect((err as Error).message).not.toContain(SECRET)
      }
    }
  })

  it('redaction: URLs in free text, unparseable URLs and commander messages', ({ expect }) => {
    expect(redactText(`connect to redis://user:${SECRET}@h:6379 failed; rediss://:${SECRET}@x too`)).toBe('connect to redis://***@h:6379 failed; rediss://***@x too')
    expect(redactUrl(`redis://:${SECRET}/x@h:1`)).toBe('redis://***@h:1')
    expect(redactUrl(`:${SECRET}@h`)).toBe('***@h')
    expect(redactUsageError(`error: option '--redis <url>' argument 'redis://:${SECRET}/x@h' is invalid. bad`)).not.toContain(SECRET)
    expect(redactUsageError(`error: option '--redis <url>' value 'redis://:${SECRET}/x@h' from env 'REDIS_URL' is invalid. bad`)).not.toContain(SECRET)
  })

  it('the logger redacts URLs in messages, fields and errors', async ({ expect }) => {
    const script = `
      import { createLogger } from ${JSON.stringify(new URL('../../dist/common/logger.js', import.meta.url).href)}
      const logger = createLogger({ name: 't', pretty: false })
      logger.error({ err: new Error('cannot reach redis://u:${SECRET}@h:1'), target: 'redis://u:${SECRET}@h:1', nested: { urls: ['redis://:${SECRET}@h'] } }, 'failed on redis://u:${SECRET}@h:1')
    `
    const result = await runNode(['--input-type=module', '-e', script], { env: process.env })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain('redis://***@h:1')
    expect(result.stderr).not.toContain(SECRET)
  })
})

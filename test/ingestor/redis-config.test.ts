import { repoStateKeyOf } from '../../common/contract.js'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, type ExpectStatic } from 'vitest'
import { freePort } from '../../harness/free-port.js'
import { startRedis, type RedisHandle } from '../../harness/redis/index.js'
import { startProcessRedis } from '../../harness/redis/process-redis.js'
import { waitUntil } from '../../harness/wait.js'
import { RedisConfigError } from '../../ingestor/errors.js'
import { redisConfigError } from '../../ingestor/redis-connection.js'
import { redisTarget } from '../../common/redis-target.js'
import type { ReplayHandle } from '../../replay/index.js'
import { runCli, startCli, type CliResult } from '../support/cli.js'
import { ingestUntil, loadIngestor, replay, sequencedRealFrames, tempDir, uniqueKeys, writeFixture } from './helpers.js'

const FRAMES = 300
/** No characters a URL would percent-encode: the output is searched for it verbatim. */
const PASSWORD = 'Tr0ub4dor-3-secret'
/** The ACL docs/ingestor.md recommends, with the key pattern of these tests. */
const DOCUMENTED_ACL = ['+@read', '+@write', '+@stream', '+@connection', '-@dangerous', '+evalsha', '+script|load', '+info']
const CONFIG_EXIT = 4

/** The real CLI (asynchronously: the replay server runs in this process); SIGKILLed after 30 s. Without verification: these are Redis's rules, and the frames' DIDs are in no offline directory. */
function runIngest(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['ingest', '--no-verify', ...args], { env, timeoutMs: 30_000 })
}

/** Runs the CLI until the cursor key holds `cursor`, then SIGTERM: the exit code of a graceful stop. */
async function ingestOverTls(redis: RedisHandle, cursorKey: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const { child, done } = startCli(['ingest', '--no-verify', ...args], { env, timeoutMs: 30_000 })
  try {
    await waitUntil(async () => (await redis.cli('GET', cursorKey)) === String(FRAMES), { what: `cursor ${FRAMES} over TLS`, timeoutMs: 30_000, intervalMs: 100 })
  } finally {
    child.kill('SIGTERM')
  }
  return done
}

/** The CLI's one-line reason on stderr (the other lines are JSON logs); exactly one. `expect`: the test's own (concurrent tests). */
function reason(expect: ExpectStatic, result: CliResult): string {
  const lines = result.stderr.split('\n').filter((line) => line.startsWith('firehose ingest: '))
  expect(lines, result.stderr).toHaveLength(1)
  return lines[0]!
}

function withAuth(url: string, user: string, password: string): string {
  const parsed = new URL(url)
  parsed.username = user
  parsed.password = password
  return parsed.toString()
}

describe('Redis configuration errors end the ingestor with exit 4 and a clear, password-free reason', () => {
  const temp = tempDir()
  let redis: RedisHandle
  let admin: Redis
  let relay: ReplayHandle

  beforeAll(async () => {
    redis = await startRedis({ kind: 'process', password: PASSWORD })
    admin = new Redis(redis.url)
    await admin.call('ACL', 'SETUSER', 'noxadd', 'on', '>user-pass-1', '~*', '+@all', '-xadd')
    await admin.call('ACL', 'SETUSER', 'noevalsha', 'on', '>user-pass-2', '~*', '+@all', '-evalsha')
    await admin.call('ACL', 'SETUSER', 'documented', 'on', '>user-pass-3', '~test:redis-config-acl*', ...DOCUMENTED_ACL)
    const fixture = await writeFixture(join(temp.dir, 'config.fixture.gz'), sequencedRealFrames(FRAMES))
    relay = await replay([fixture])
    await waitUntil(() => relay.status().finished, { what: 'the replay to publish everything', timeoutMs: 20_000 })
  })
  afterAll(async () => {
    await relay.close()
    admin.disconnect()
    await redis.stop()
    temp.cleanup()
  })

  /** The stream may exist (XGROUP CREATE MKSTREAM is allowed), but holds nothing, and there is no cursor. */
  async function expectNothingWritten(expect: ExpectStatic, keys: ReturnType<typeof uniqueKeys>): Promise<void> {
    expect(await admin.exists(keys.cursorKey)).toBe(0)
    if ((await admin.exists(keys.stream)) === 1) expect(await admin.xlen(keys.stream)).toBe(0)
  }

  // The start-up refusals below each use their own keys and end before the relay matters: concurrent.
  it.concurrent.for<[string, (url: string) => string, string, RegExp]>([
    ['a wrong password (WRONGPASS)', (url: string) => withAuth(url, '', 'not-the-password-42'), 'REDIS_AUTH', /WRONGPASS/],
    ['no password (NOAUTH)', (url: string) => withAuth(url, '', ''), 'REDIS_AUTH', /NOAUTH/],
    ['an ACL user without XADD (found by the start-up check)', (url: string) => withAuth(url, 'noxadd', 'user-pass-1'), 'REDIS_NOPERM', /may not run XADD/],
    ['an ACL user without EVALSHA (NOPERM)', (url: string) => withAuth(url, 'noevalsha', 'user-pass-2'), 'REDIS_NOPERM', /NOPERM.*evalsha/],
    ['a database the server does not have (/99)', (url: string) => `${url}/99`, 'REDIS_DB_RANGE', /database 99 does not exist/],
  ])('%s', async ([_name, makeUrl, code, detail], { expect }) => {
    const keys = uniqueKeys('test:redis-config')
    const url = makeUrl(redis.url)
    const result = await runIngest(['--relay', relay.url, '--redis', url, '--stream', keys.stream, '--cursor-key', keys.cursorKey, '--cursor', '0'])
    expect(result.code, result.stderr).toBe(CONFIG_EXIT)
    expect(reason(expect, result)).toMatch(new RegExp(`^firehose ingest: .*\\[${code}\\]$`))
    expect(reason(expect, result)).toMatch(detail)
    for (const secret of [PASSWORD, 'not-the-password-42', 'user-pass-1', 'user-pass-2']) expect(result.stderr + result.stdout).not.toContain(secret)
    await expectNothingWritten(expect, keys)
    // ioredis would have written /99's stream to db 0 after the failed SELECT.
    if (code === 'REDIS_DB_RANGE') expect(await admin.keys('test:redis-config*')).not.toContain(keys.stream)
  })

  it.concurrent('an ACL user without XINFO, with --max-len 100: exit 4 before anything is written (the safe trim needs XINFO)', async ({ expect }) => {
    await admin.call('ACL', 'SETUSER', 'noxinfo', 'on', '>user-pass-4', '~*', '+@all', '-xinfo')
    const keys = uniqueKeys('test:redis-config')
    const result = await runIngest(['--relay', relay.url, '--redis', withAuth(redis.url, 'noxinfo', 'user-pass-4'), '--stream', keys.stream, '--cursor-key', keys.cursorKey, '--cursor', '0', '--max-len', '100'])
    expect(result.code, result.stderr).toBe(CONFIG_EXIT)
    expect(reason(expect, result)).toMatch(/may not run XINFO GROUPS .*\[REDIS_NOPERM\]$/)
    expect(await admin.exists(keys.stream, keys.cursorKey)).toBe(0)
  })

  it.concurrent.for<[string, (keys: ReturnType<typeof uniqueKeys>) => string, string, string]>([
    ['the stream key holds a string', (keys: ReturnType<typeof uniqueKeys>) => keys.stream, 'string', 'stream'],
    // --repo-state (below, for this case): its per-repo state hash.
    ['the per-repo state key holds a string', (keys: ReturnType<typeof uniqueKeys>) => repoStateKeyOf(keys.stream), 'string', 'hash'],
    ['the dead-letter key holds a string', (keys: ReturnType<typeof uniqueKeys>) => keys.dead, 'string', 'stream'],
    ['the cursor key holds a hash', (keys: ReturnType<typeof uniqueKeys>) => keys.cursorKey, 'hash', 'string'],
  ])('%s: exit 4 at start-up naming the key and its type, nothing written', async ([_name, keyOf, type, expected], { expect }) => {
    const keys = uniqueKeys('test:redis-config')
    const key = keyOf(keys)
    if (type === 'hash') await admin.hset(key, 'a', '1')
    else await admin.set(key, 'x')
    const repoState = expected === 'hash' ? ['--repo-state'] : []
    const result = await runIngest(['--relay', relay.url, '--redis', redis.url, '--stream', keys.stream, '--cursor-key', keys.cursorKey, '--cursor', '0', ...repoState])
    expect(result.code, result.stderr).toBe(CONFIG_EXIT)
    expect(reason(expect, result)).toContain(`Redis key ${JSON.stringify(key)} holds a ${type}, not a ${expected}`)
    expect(reason(expect, result)).toMatch(/\[REDIS_WRONGTYPE\]$/)
    expect(await admin.type(key)).toBe(type)
    for (const other of [keys.stream, keys.cursorKey, keys.dead].filter((k) => k !== key)) expect(await admin.exists(other)).toBe(0)
    await admin.del(key)
  })

  it('a key that changes type mid-run (the dead-letter stream replaced by a string): the ingestor stops with REDIS_WRONGTYPE, nothing duplicated', async () => {
    const keys = uniqueKeys('test:redis-config')
    const live = await replay([join(temp.dir, 'config.fixture.gz')], { loop: true, rate: { mode: 'rate', eventsPerSec: 500 } })
    const { startIngestor } = await loadIngestor()
    const handle = await startIngestor({ relayUrl: live.url, redisUrl: redis.url, stream: keys.stream, cursorKey: keys.cursorKey, statusIntervalMs: 0 })
    try {
      await waitUntil(() => handle.status().counters.batchesWritten >= 2, { what: 'two writes', timeoutMs: 20_000 })
      await admin.set(keys.dead, 'x')
      await handle.done
      expect(handle.error()).toMatchObject({ code: 'REDIS_WRONGTYPE', fields: { key: keys.dead, type: 'string' } })
      const seqs = (await admin.xrange(keys.stream, '-', '+')).map(([, fields]) => Number(fields[5]))
      expect(new Set(seqs).size).toBe(seqs.length)
      expect(Number(await admin.get(keys.cursorKey))).toBe(seqs.at(-1))
    } finally {
      await handle.stop()
      await live.close()
      await admin.del(keys.stream, keys.cursorKey, keys.dead)
    }
  })

  it('an in-range /N database is used (not db 0)', async () => {
    const keys = uniqueKeys('test:redis-config-db')
    await ingestUntil({ relayUrl: relay.url, redisUrl: `${redis.url}/3`, stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0 }, FRAMES)
    expect(await admin.exists(keys.stream)).toBe(0)
    const db3 = new Redis(`${redis.url}/3`)
    try {
      expect(await db3.xlen(keys.stream)).toBe(FRAMES)
    } finally {
      db3.disconnect()
    }
  })

  it('the ACL documented in docs/ingestor.md is enough', async () => {
    const keys = uniqueKeys('test:redis-config-acl')
    await ingestUntil({ relayUrl: relay.url, redisUrl: withAuth(redis.url, 'documented', 'user-pass-3'), stream: keys.stream, cursorKey: keys.cursorKey, startCursor: 0 }, FRAMES)
    expect(await admin.xlen(keys.stream)).toBe(FRAMES)
  })

  it.concurrent.for<[string, string]>([
    ['an unparseable URL', `redis://:${PASSWORD}/x@127.0.0.1:1`],
    ['a malformed %-escape in the password', `redis://user:${PASSWORD}%zz@127.0.0.1:1`],
    ['a db path that is not a number', `redis://:${PASSWORD}@127.0.0.1:1/abc`],
    ['query parameters', `redis://:${PASSWORD}@127.0.0.1:1/0?password=x`],
    ['another scheme', `http://:${PASSWORD}@127.0.0.1:1`],
  ])('%s is a usage error (exit 2) that never prints the password, from the flag or REDIS_URL', async ([_name, url], { expect }) => {
    for (const [args, env] of [
      [['--redis', url], {}],
      [[], { REDIS_URL: url }],
    ] as const) {
      const result = await runIngest(['--relay', 'ws://127.0.0.1:1', ...args], env)
      expect(result.code, result.stderr).toBe(2)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toMatch(/--redis/)
      expect(result.stderr).not.toContain(PASSWORD)
    }
  })

  it('classifies only configuration errors as fatal', () => {
    expect(redisConfigError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBeNull()
    expect(redisConfigError(new Error('LOADING Redis is loading the dataset in memory'))).toBeNull()
    expect(redisConfigError(new Error('WRONGPASS invalid username-password pair or user is disabled.'))?.code).toBe('REDIS_AUTH')
    expect(redisConfigError(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }))?.code).toBe('REDIS_TLS')
  })

  it('TLS options need a rediss:// URL and readable files', () => {
    expect(() => redisTarget('redis://127.0.0.1:6379', { caFile: '/nonexistent' })).toThrow(/need a rediss:\/\/ URL/)
    expect(() => redisTarget('rediss://127.0.0.1:6379', { caFile: join(temp.dir, 'missing.pem') })).toThrow(RedisConfigError)
    expect(() => redisTarget('rediss://127.0.0.1:6379', { certFile: join(temp.dir, 'x.pem') })).toThrow(/both its cert and key/)
  })
})

/** A CA, a server certificate for `redis.test` only (no IP: the server name option matters) and a client certificate. */
function makeCertificates(dir: string): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const file = (name: string): string => join(dir, name)
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', '-new', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=firehose test CA')
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:redis.test\n')
  for (const [name, ext] of [
    ['server', ['-extfile', 'server.ext']],
    ['client', []],
  ] as const) {
    openssl('req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'server' ? 'redis.test' : 'firehose-client'}`)
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', ...ext)
  }
  return { ca: file('ca.crt'), serverCert: file('server.crt'), serverKey: file('server.key'), clientCert: file('client.crt'), clientKey: file('client.key') }
}

describe('rediss:// with --redis-ca, --redis-cert, --redis-key and --redis-servername against redis-server --tls-port', () => {
  const temp = tempDir()
  let redis: RedisHandle
  let relay: ReplayHandle
  let certs: ReturnType<typeof makeCertificates>
  let tlsUrl: string

  beforeAll(async () => {
    certs = makeCertificates(temp.dir)
    const tlsPort = await freePort('127.0.0.1')
    // Clients must present a certificate signed by the CA (tls-auth-clients yes). TLS 1.2: there the
    // server refuses a missing client certificate inside the handshake, so the client always reads
    // the alert; with TLS 1.3 the server checks it after the client's handshake is done, and the
    // alert races the client's first command (a reset instead, retried: a CI run at load timed out).
    redis = await startProcessRedis({
      persistence: 'none',
      extraArgs: [
        ...['--tls-port', String(tlsPort), '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey, '--tls-ca-cert-file', certs.ca],
        ...['--tls-auth-clients', 'yes', '--tls-protocols', 'TLSv1.2'],
      ],
    })
    tlsUrl = `rediss://127.0.0.1:${tlsPort}`
    const fixture = await writeFixture(join(temp.dir, 'tls.fixture.gz'), sequencedRealFrames(FRAMES))
    relay = await replay([fixture])
    await waitUntil(() => relay.status().finished, { what: 'the replay to publish everything', timeoutMs: 20_000 })
  })
  afterAll(async () => {
    await relay.close()
    await redis.stop()
    temp.cleanup()
  })

  const tlsFlags = (): string[] => ['--redis-ca', certs.ca, '--redis-cert', certs.clientCert, '--redis-key', certs.clientKey]

  it('ingests over TLS with a client certificate, then stops cleanly on SIGTERM', async () => {
    const keys = uniqueKeys('test:redis-tls')
    // Every frame counted: sampled real frames, which per-repo state would resync (offline: never).
    const args = ['--relay', relay.url, '--redis', tlsUrl, '--stream', keys.stream, '--cursor-key', keys.cursorKey, '--cursor', '0', ...tlsFlags(), '--redis-servername', 'redis.test', '--no-repo-state']
    const result = await ingestOverTls(redis, keys.cursorKey, args)
    expect(result.code, result.stderr).toBe(0)
    expect(await redis.cli('XLEN', keys.stream)).toBe(String(FRAMES))
  })

  it('takes the TLS files from FIREHOSE_REDIS_* as well', async () => {
    const keys = uniqueKeys('test:redis-tls-env')
    // Without a server name the certificate (redis.test only) does not match 127.0.0.1: proves the env value arrived.
    const env = { FIREHOSE_REDIS_CA: certs.ca, FIREHOSE_REDIS_CERT: certs.clientCert, FIREHOSE_REDIS_KEY: certs.clientKey }
    const without = await runIngest(['--relay', relay.url, '--redis', tlsUrl, '--stream', keys.stream, '--cursor-key', keys.cursorKey], env)
    expect(without.code, without.stderr).toBe(CONFIG_EXIT)
    expect(reason(expect, without)).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID.*\[REDIS_TLS\]$/)
    const args = ['--relay', relay.url, '--redis', tlsUrl, '--stream', keys.stream, '--cursor-key', keys.cursorKey, '--cursor', '0']
    const result = await ingestOverTls(redis, keys.cursorKey, args, { ...env, FIREHOSE_REDIS_SERVERNAME: 'redis.test' })
    expect(result.code, result.stderr).toBe(0)
  })

  // Refused at start-up, each with its own keys: concurrent.
  it.concurrent.for<[string, () => string[], RegExp]>([
    ['without the CA (self-signed chain)', (): string[] => ['--redis-cert', certs.clientCert, '--redis-key', certs.clientKey, '--redis-servername', 'redis.test'], /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY/],
    ['without a client certificate (the server demands one)', (): string[] => ['--redis-ca', certs.ca, '--redis-servername', 'redis.test'], /ERR_SSL_|certificate/],
  ])('%s: exit 4 with REDIS_TLS', async ([_name, flags, detail], { expect }) => {
    const keys = uniqueKeys('test:redis-tls-bad')
    const result = await runIngest(['--relay', relay.url, '--redis', tlsUrl, '--stream', keys.stream, '--cursor-key', keys.cursorKey, ...flags()])
    expect(result.code, result.stderr).toBe(CONFIG_EXIT)
    expect(reason(expect, result)).toMatch(/\[REDIS_TLS\]$/)
    expect(reason(expect, result)).toMatch(detail)
  })

  it.concurrent('TLS flags with a redis:// URL or an unreadable file: exit 4 before connecting', async ({ expect }) => {
    const plain = await runIngest(['--relay', relay.url, '--redis', 'redis://127.0.0.1:1', '--redis-ca', certs.ca])
    expect(plain.code).toBe(CONFIG_EXIT)
    expect(reason(expect, plain)).toMatch(/need a rediss:\/\/ URL.*\[REDIS_TLS\]$/)
    const missing = await runIngest(['--relay', relay.url, '--redis', tlsUrl, '--redis-ca', join(temp.dir, 'nope.pem')])
    expect(missing.code).toBe(CONFIG_EXIT)
    expect(reason(expect, missing)).toMatch(/cannot read the Redis TLS CA file .*nope\.pem/)
  })
})

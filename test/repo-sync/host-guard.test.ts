import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemTimers } from '../../common/timers.js'
import { RepoSyncError, RepoSyncErrorCode } from '../../repo-sync/errors.js'
import { FetchLimiter } from '../../repo-sync/fetch-limits.js'
import { GuardedClient } from '../../repo-sync/guarded-client.js'
import { forbiddenRange, HostGuard } from '../../repo-sync/host-guard.js'
import { readCapped } from '../../repo-sync/http-get.js'
import { generatedRepo, testFetcher } from './fetch-fixtures.js'
import { FetchServer } from './fetch-server.js'

describe('forbiddenRange: every address a PDS must not be at, in IPv4, IPv6 and IPv4 inside IPv6 (a DID document can name any host: SSRF)', () => {
  const forbidden = [
    ['0.0.0.0', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['100.64.0.1', 'CGNAT'],
    ['100.127.255.255', 'CGNAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback, as IPv4 inside IPv6'],
    ['::ffff:7f00:1', 'loopback, as IPv4 inside IPv6'],
    ['::ffff:169.254.169.254', 'link-local, as IPv4 inside IPv6'],
    ['::10.0.0.1', 'private, as IPv4 inside IPv6'],
    ['64:ff9b::192.168.0.1', 'private, as IPv4 inside IPv6'],
    ['2002:c0a8:0101::1', 'private, as IPv4 inside IPv6'],
    ['not-an-ip', 'not an IP address'],
  ] as const
  for (const [address, range] of forbidden) {
    it(`refuses ${address}`, () => expect(forbiddenRange(address)).toContain(range))
  }
  it('allows public addresses, in either family and mapped', () => {
    for (const address of [
      '8.8.8.8',
      '1.1.1.1',
      '100.63.255.255',
      '100.128.0.0',
      '172.15.255.255',
      '172.32.0.0',
      '192.169.0.1',
      '2606:4700::1111',
      '2001:4860:4860::8888',
      '::ffff:8.8.8.8',
      '64:ff9b::1.1.1.1',
      '2002:0808:0808::1',
    ]) {
      expect(forbiddenRange(address), address).toBeNull()
    }
  })
})

describe('HostGuard.pin: schemes, addresses after DNS, and one resolution whose address is the one connected to (no rebinding window)', () => {
  let server: FetchServer
  beforeAll(async () => {
    server = await FetchServer.start()
    server.serveDidDoc('did:plc:pinned', { ok: true })
  })
  afterAll(() => server.close())

  it('refuses schemes other than http(s), private literals, names that resolve to private addresses (localhost), and a name with one private address among public ones', async () => {
    const guard = new HostGuard({
      resolve: async (name) =>
        name === 'mixed.test'
          ? [
              { address: '93.184.215.14', family: 4 },
              { address: '10.0.0.7', family: 4 },
            ]
          : [{ address: '127.0.0.1', family: 4 }],
    })
    await expect(guard.pin(new URL('file:///etc/passwd'))).rejects.toMatchObject({ code: RepoSyncErrorCode.BadUrl })
    await expect(guard.pin(new URL('ftp://example.com/'))).rejects.toMatchObject({ code: RepoSyncErrorCode.BadUrl })
    await expect(guard.pin(new URL('http://[::1]:8080/'))).rejects.toMatchObject({ code: RepoSyncErrorCode.PrivateHost, fields: { address: '::1', range: 'loopback' } })
    await expect(guard.pin(new URL('https://mixed.test/'))).rejects.toMatchObject({ code: RepoSyncErrorCode.PrivateHost, fields: { address: '10.0.0.7' } })
    await expect(new HostGuard().pin(new URL('http://localhost/'))).rejects.toMatchObject({ code: RepoSyncErrorCode.PrivateHost })
    await expect(guard.pin(new URL('https://pds.test/'))).rejects.toBeInstanceOf(RepoSyncError)
  })

  it('allows them with allowPrivateHosts, and a trusted URL (our configuration) without it; a name that does not resolve is UNREACHABLE', async () => {
    const failing = new HostGuard({ resolve: async () => Promise.reject(new Error('ENOTFOUND')) })
    await expect(failing.pin(new URL('https://nowhere.test/'))).rejects.toMatchObject({ code: RepoSyncErrorCode.Unreachable })
    expect((await new HostGuard({ allowPrivateHosts: true }).pin(new URL('http://127.0.0.1/'))).address).toBe('127.0.0.1')
    expect((await new HostGuard().pin(new URL('http://127.0.0.1/'), true)).address).toBe('127.0.0.1')
    const dual = new HostGuard({
      resolve: async () => [
        { address: '2606:4700::1111', family: 6 },
        { address: '1.1.1.1', family: 4 },
      ],
    })
    expect(await dual.pin(new URL('https://dual.test/'))).toMatchObject({ hostname: 'dual.test', address: '1.1.1.1', family: 4 })
  })

  it('the request goes to the address the guard resolved, once: a name no DNS knows reaches the test server', async () => {
    let resolutions = 0
    const guard = new HostGuard({
      allowPrivateHosts: true,
      resolve: async () => {
        resolutions++
        return [{ address: '127.0.0.1', family: 4 }]
      },
    })
    const client = new GuardedClient(guard, new FetchLimiter({}, systemTimers), systemTimers, { idleTimeoutMs: 10_000, userAgent: 'test' })
    const answer = await client.get(new URL(`http://pds.invalid:${server.url.port}/did:plc:pinned`), { accept: 'application/json', trusted: false, timeoutMs: 10_000 })
    try {
      expect(answer.status).toBe(200)
      expect(JSON.parse((await readCapped(answer, 1000))!.toString())).toEqual({ ok: true })
    } finally {
      answer.close()
    }
    expect(resolutions).toBe(1)
  })
})

describe('a fetch to a DID whose PDS is a private address is refused before any request reaches it, unless private hosts are allowed', () => {
  let server: FetchServer
  let did: string
  beforeAll(async () => {
    server = await FetchServer.start()
    const repo = await generatedRepo(3, 5)
    did = repo.did
    server.serveDidDoc(did, repo.docAt(server.url))
    server.serveCar(did, repo.car)
  })
  afterAll(() => server.close())

  it('PRIVATE_HOST without --allow-private-hosts (the PLC directory, our configuration, is still asked); fetched with it', async () => {
    const refused = testFetcher(server, systemTimers, { allowPrivateHosts: false })
    const err = (await refused.fetcher.fetchRepo(did).catch((e: unknown) => e)) as RepoSyncError
    expect(err.code).toBe(RepoSyncErrorCode.PrivateHost)
    expect(err.fields).toMatchObject({ did, address: '127.0.0.1', range: 'loopback' })
    expect(server.getRepoCount).toBe(0)
    expect(server.requests).toEqual([`/${did}`])
    await (await testFetcher(server, systemTimers, { allowPrivateHosts: true }).fetcher.fetchRepo(did)).close()
    expect(server.getRepoCount).toBe(1)
  })

  it('a --resync-from URL that is not http(s) is refused: BAD_URL', async () => {
    const { fetcher } = testFetcher(server, systemTimers)
    await expect(fetcher.fetchRepo(did, { source: new URL('file:///etc/passwd') })).rejects.toMatchObject({ code: RepoSyncErrorCode.BadUrl })
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemTimers } from '../../common/timers.js'
import { createIdentity, didDocument, importKeypair } from '../../generator/identity.js'
import { RepoSyncError, RepoSyncErrorCode } from '../../repo-sync/errors.js'
import { generatedRepo, readAll, referenceRecords, testFetcher, type GeneratedRepo } from './fetch-fixtures.js'
import { FetchServer } from './fetch-server.js'

let server: FetchServer
let repo: GeneratedRepo
/** The repo's DID document with another account's key: what a rotated-away key looks like. */
let staleKeyDoc: Record<string, unknown>

beforeAll(async () => {
  server = await FetchServer.start()
  repo = await generatedRepo(11, 40)
  server.serveCar(repo.did, repo.car)
  const stranger = createIdentity(11, 99)
  const doc = repo.docAt(server.url)
  staleKeyDoc = { ...doc, verificationMethod: (didDocument({ ...stranger, did: repo.did }, 'gen.test', await importKeypair(stranger)) as { verificationMethod: unknown }).verificationMethod }
})
afterAll(() => server.close())

const failure = async (promise: Promise<unknown>): Promise<RepoSyncError> => {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(RepoSyncError)
  return err as RepoSyncError
}

describe("the PDS comes from the DID document's #atproto_pds service; a document without a usable one is DID_UNRESOLVED and nothing is fetched", () => {
  const docs: [string, (doc: Record<string, unknown>) => unknown, RegExp][] = [
    ['no document (PLC 404)', () => undefined, /answered 404/],
    ['a document for another DID', (doc) => ({ ...doc, id: 'did:plc:someoneelse234567abcdefg' }), /another DID/],
    ['no #atproto_pds service', (doc) => ({ ...doc, service: [] }), /no #atproto_pds/],
    ['a service of another type', (doc) => ({ ...doc, service: [{ id: '#atproto_pds', type: 'Other', serviceEndpoint: server.url.origin }] }), /type Other/],
    ['an ftp endpoint', (doc) => ({ ...doc, service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'ftp://pds.example.com' }] }), /scheme ftp/],
    ['an endpoint with credentials', (doc) => ({ ...doc, service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://user:pw@pds.example.com' }] }), /credentials/],
  ]
  for (const [name, change, reason] of docs) {
    it(name, async () => {
      const doc = change(repo.docAt(server.url))
      const did = repo.did
      if (doc === undefined) server.serveDidDoc(did, undefined)
      else server.serveDidDoc(did, doc)
      const before = server.getRepoCount
      const err = await failure(testFetcher(server, systemTimers).fetcher.fetchRepo(did))
      expect(err.code).toBe(RepoSyncErrorCode.DidUnresolved)
      expect(err.message).toMatch(reason)
      expect(err.fields.did).toBe(did)
      expect(server.getRepoCount).toBe(before)
    })
  }

  it('malformed and unsupported DIDs are refused without a request', async () => {
    const { fetcher } = testFetcher(server, systemTimers)
    const asked = server.requests.length
    expect((await failure(fetcher.fetchRepo('did:plc:short'))).message).toMatch(/malformed did:plc/)
    expect((await failure(fetcher.fetchRepo('did:web:example.com:path'))).message).toMatch(/malformed did:web/)
    expect((await failure(fetcher.fetchRepo('did:key:z6Mkfoo'))).message).toMatch(/unsupported DID method/)
    expect(server.requests.length).toBe(asked)
  })

  it('a document is cached: a second fetch asks the PLC directory nothing; invalidate() (an #identity event) makes it ask again', async () => {
    server.serveDidDoc(repo.did, repo.docAt(server.url))
    const { fetcher, resolver } = testFetcher(server, systemTimers)
    const docRequests = (): number => server.requests.filter((path) => path === `/${repo.did}`).length
    const before = docRequests()
    await (await fetcher.fetchRepo(repo.did)).close()
    await (await fetcher.fetchRepo(repo.did)).close()
    expect(docRequests()).toBe(before + 1)
    resolver.invalidate(repo.did)
    await (await fetcher.fetchRepo(repo.did)).close()
    expect(docRequests()).toBe(before + 2)
  })
})

describe("with verify, the commit must be signed by the DID's #atproto key; a failure with a cached key re-resolves the DID once (key rotation)", () => {
  it('the right key: verified; another key: BAD_SIGNATURE; no key: DID_UNRESOLVED', async () => {
    server.serveDidDoc(repo.did, repo.docAt(server.url))
    const good = await testFetcher(server, systemTimers).fetcher.fetchRepo(repo.did, { verify: true })
    expect(good.stats.verified).toBe(true)
    expect(await readAll(good)).toEqual((await referenceRecords(repo.car)).records)
    server.serveDidDoc(repo.did, staleKeyDoc)
    expect((await failure(testFetcher(server, systemTimers).fetcher.fetchRepo(repo.did, { verify: true }))).code).toBe(RepoSyncErrorCode.BadSignature)
    server.serveDidDoc(repo.did, { ...repo.docAt(server.url), verificationMethod: [] })
    const keyless = await failure(testFetcher(server, systemTimers).fetcher.fetchRepo(repo.did, { verify: true }))
    expect(keyless.code).toBe(RepoSyncErrorCode.DidUnresolved)
    expect(keyless.message).toMatch(/no #atproto verification method/)
  })

  it('a rotated key: the cached document fails, the fresh one verifies, and the DID was asked twice', async () => {
    server.serveDidDoc(repo.did, staleKeyDoc)
    const { fetcher, resolver } = testFetcher(server, systemTimers)
    await resolver.resolve(repo.did)
    server.serveDidDoc(repo.did, repo.docAt(server.url))
    const before = server.requests.length
    const fetched = await fetcher.fetchRepo(repo.did, { verify: true })
    await fetched.close()
    expect(fetched.stats.verified).toBe(true)
    expect(server.requests.slice(before)).toEqual([expect.stringContaining('getRepo'), `/${repo.did}`])
  })
})

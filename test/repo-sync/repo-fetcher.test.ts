import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { systemTimers } from '../../common/timers.js'
import { RepoSyncError } from '../../repo-sync/errors.js'
import { getRepoUrl } from '../../repo-sync/repo-fetcher.js'
import { FetchServer } from './fetch-server.js'
import { generatedRepo, readAll, REAL_CARS, referenceRecords, rewriteCar, testFetcher, type GeneratedRepo } from './fetch-fixtures.js'

let server: FetchServer
let generated: GeneratedRepo

beforeAll(async () => {
  server = await FetchServer.start()
  generated = await generatedRepo(18, 2500)
  server.serveDidDoc(generated.did, generated.docAt(server.url))
  server.serveCar(generated.did, generated.car)
})
afterAll(() => server.close())

describe('a fetched repo yields exactly the records @atproto/repo reads from the same CAR, in MST order (the reference reader is the oracle)', () => {
  for (const [name, { did, car }] of Object.entries({ bnewbold: REAL_CARS.bnewbold, greenground: REAL_CARS.greenground })) {
    it(`real export ${name}`, async () => {
      server.serveCar(did, car)
      const { fetcher } = testFetcher(server, systemTimers)
      const repo = await fetcher.fetchRepo(did, { source: server.url })
      const reference = await referenceRecords(car)
      expect({ rev: repo.rev, data: repo.data }).toEqual({ rev: reference.rev, data: reference.data })
      expect(await readAll(repo)).toEqual(reference.records)
      expect(repo.stats).toMatchObject({ bytes: car.byteLength, records: reference.records.length, spilledBytes: 0, verified: false })
    })
  }

  it('a generated repo of 2,500 records, found through its DID document, signature verified; two keys share one record block', async () => {
    const { fetcher } = testFetcher(server, systemTimers)
    const repo = await fetcher.fetchRepo(generated.did, { verify: true })
    const reference = await referenceRecords(generated.car)
    const records = await readAll(repo)
    expect(records).toEqual(reference.records)
    expect(records).toHaveLength(2503)
    expect(new Set(records.map((r) => r.cid)).size).toBe(2502)
    expect(repo.rev).toBe(generated.rev)
    expect(repo.stats).toMatchObject({ verified: true, records: 2503, url: getRepoUrl(server.url, generated.did).href })
  })

  it('the getRepo URL keeps the path a --resync-from base has, and escapes the DID', () => {
    expect(getRepoUrl(new URL('https://mirror.example/atproto'), 'did:web:a.example').href).toBe('https://mirror.example/atproto/xrpc/com.atproto.sync.getRepo?did=did%3Aweb%3Aa.example')
    expect(getRepoUrl(new URL('https://pds.example'), 'did:plc:x').href).toBe('https://pds.example/xrpc/com.atproto.sync.getRepo?did=did%3Aplc%3Ax')
  })
})

describe('block order does not matter and memory stays within its budget: blocks past memoryBytes go to the spill file (PDS exports are not in tree order)', () => {
  it('commit first, reversed and shuffled CARs, with a 64 KiB budget, give the same records as the original in memory', async () => {
    const seed = SeededRandom.freshSeed()
    const reference = await referenceRecords(generated.car)
    const variants = {
      'commit-first': await rewriteCar(generated.car, { order: 'commit-first' }),
      reverse: await rewriteCar(generated.car, { order: 'reverse' }),
      shuffle: await rewriteCar(generated.car, { order: 'shuffle', random: new SeededRandom(seed) }),
    }
    for (const [order, car] of Object.entries(variants)) {
      const did = generated.did
      server.serveCar(did, car)
      const { fetcher } = testFetcher(server, systemTimers, { memoryBytes: 64 * 1024 })
      const repo = await fetcher.fetchRepo(did, { source: server.url })
      expect(await readAll(repo), `order ${order}, seed ${seed}`).toEqual(reference.records)
      expect(repo.stats.spilledBytes, order).toBeGreaterThan(car.byteLength / 2)
      // The budget, the index (at most 64 bytes a block; 24 KiB when empty) and one 1 MiB write batch.
      expect(repo.stats.heldBytes, order).toBeLessThanOrEqual(64 * 1024 + Math.max(24 * 1024, 64 * repo.stats.blocks) + 1024 * 1024)
    }
    server.serveCar(generated.did, generated.car)
  })

  it('a repo that is not read to its end frees its blocks on close(), and records() runs once', async () => {
    const { fetcher } = testFetcher(server, systemTimers, { memoryBytes: 0 })
    const repo = await fetcher.fetchRepo(generated.did, { source: server.url })
    const iterator = repo.records()[Symbol.asyncIterator]()
    expect((await iterator.next()).done).toBe(false)
    await repo.close()
    await expect(iterator.next()).rejects.toBeInstanceOf(RepoSyncError)
    await expect(readAll(repo)).rejects.toThrow(/already read/)
  })
})

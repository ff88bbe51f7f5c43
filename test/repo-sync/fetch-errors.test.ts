import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SeededRandom } from '../../common/random.js'
import { systemTimers, type Timers } from '../../common/timers.js'
import { waitUntil } from '../../harness/wait.js'
import { RepoSyncError, RepoSyncErrorCode } from '../../repo-sync/errors.js'
import { FakeTimers } from '../support/fake-timers.js'
import { carBlocks, generatedRepo, REAL_CARS, referenceRecords, rewriteCar, testFetcher, type GeneratedRepo } from './fetch-fixtures.js'
import { FetchServer, json } from './fetch-server.js'

let server: FetchServer
let repo: GeneratedRepo
let rootCid: string
let recordCids: string[]
let nodeCids: string[]

beforeAll(async () => {
  server = await FetchServer.start()
  repo = await generatedRepo(7, 300)
  const { root, blocks } = await carBlocks(repo.car)
  rootCid = root.toString()
  recordCids = (await referenceRecords(repo.car)).records.map((r) => r.cid)
  nodeCids = blocks.map((b) => b.cid.toString()).filter((cid) => cid !== rootCid && !recordCids.includes(cid))
})
afterAll(() => server.close())

/** The error a fetch of `did` from the test server (as --resync-from) fails with; it must be a RepoSyncError. */
async function failure(did: string, config: Parameters<typeof testFetcher>[2] = {}, timers: Timers = systemTimers): Promise<RepoSyncError> {
  const { fetcher } = testFetcher(server, timers, config)
  const err = await fetcher.fetchRepo(did, { source: server.url }).then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(RepoSyncError)
  return err as RepoSyncError
}

/** Serves a changed export of the generated repo, under its own DID (the commit names it). */
function serveRepo(car: Uint8Array): string {
  server.serveCar(repo.did, car)
  return repo.did
}

let routes = 0
/** A DID answered by `handler` (with a source URL, nothing resolves it: any name will do). */
function routed(handler: Parameters<FetchServer['route']>[1]): string {
  const did = `did:plc:route${routes++}`
  server.route(did, handler)
  return did
}

/** The CAR's block sections behind another header (its header length fits one varint byte). */
function withHeader(car: Uint8Array, header: unknown): Uint8Array {
  const encoded = dagCbor.encode(header)
  expect(car[0]! < 0x80 && encoded.byteLength < 0x80).toBe(true)
  return Uint8Array.from([encoded.byteLength, ...encoded, ...car.subarray(1 + car[0]!)])
}

describe('a body that is not a whole, valid CAR is refused with its own code (BAD_CAR, TRUNCATED, BAD_BLOCK): a PDS can send anything', () => {
  it('cut short: TRUNCATED, whether the server ends its answer or drops the connection', async () => {
    const ended = routed((_req, res) => {
      res.writeHead(200)
      res.end(repo.car.subarray(0, Math.floor(repo.car.byteLength / 2)))
    })
    expect((await failure(ended)).code).toBe(RepoSyncErrorCode.Truncated)
    const dropped = routed((_req, res) => {
      res.writeHead(200, { 'content-length': String(repo.car.byteLength) })
      res.write(repo.car.subarray(0, 1000), () => res.destroy())
    })
    const err = await failure(dropped)
    expect(err.code).toBe(RepoSyncErrorCode.Truncated)
    expect(err.fields).toMatchObject({ did: dropped, host: server.host })
  })

  it('a block whose bytes do not hash to its CID: BAD_BLOCK naming the block', async () => {
    const car = Uint8Array.from(repo.car)
    car[car.byteLength - 1]! ^= 0xff // the last block's last byte
    const err = await failure(serveRepo(car))
    expect(err.code).toBe(RepoSyncErrorCode.BadBlock)
    expect(err.fields.cid).toMatch(/^bafy/)
  })

  it('not a CAR (an HTML page, a CAR v2 header, an empty body) and a block over maxBlockBytes: BAD_CAR or TRUNCATED', async () => {
    const html = routed((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html><body>' + 'x'.repeat(500) + '</body></html>')
    })
    expect((await failure(html)).code).toBe(RepoSyncErrorCode.BadCar)
    const v2 = await failure(serveRepo(withHeader(repo.car, { version: 2, roots: [CID.parse(rootCid)] })))
    expect(v2.code).toBe(RepoSyncErrorCode.BadCar)
    expect(v2.message).toMatch(/version 2/)
    const empty = routed((_req, res) => {
      res.writeHead(200)
      res.end()
    })
    expect((await failure(empty)).code).toBe(RepoSyncErrorCode.Truncated)
    const big = await failure(serveRepo(repo.car), { maxBlockBytes: 100 })
    expect(big.code).toBe(RepoSyncErrorCode.BadCar)
    expect(big.fields).toMatchObject({ limitBytes: 100 })
  })

  it('seeded random damage to a valid CAR (flipped bytes, cuts, inserted bytes) only ever ends in a RepoSyncError or the same records', async () => {
    const seed = SeededRandom.freshSeed()
    const random = new SeededRandom(seed)
    const reference = (await referenceRecords(repo.car)).records.map((r) => r.cid)
    const codes = new Set<string>()
    for (let round = 0; round < 40; round++) {
      let car = Uint8Array.from(repo.car)
      const at = random.int(0, car.byteLength - 1)
      const damage = random.pick(['flip', 'cut', 'insert'] as const)
      if (damage === 'flip') car[at]! ^= 1 << random.int(0, 7)
      else if (damage === 'cut') car = car.subarray(0, at)
      else car = Uint8Array.from([...car.subarray(0, at), random.int(0, 255), ...car.subarray(at)])
      server.serveCar(repo.did, car)
      const { fetcher } = testFetcher(server, systemTimers)
      const outcome = await fetcher.fetchRepo(repo.did, { source: server.url }).then(
        async (fetched) => {
          const cids: string[] = []
          for await (const record of fetched.records()) cids.push(record.cid)
          return cids
        },
        (e: unknown) => e,
      )
      if (outcome instanceof RepoSyncError) codes.add(outcome.code)
      else expect(outcome, `seed ${seed}, round ${round}: ${damage} at ${at}`).toEqual(reference)
    }
    expect(
      [...codes].every((code) => code.startsWith('REPO_SYNC_')),
      `seed ${seed}`,
    ).toBe(true)
  })
})

describe("the CAR must be the DID's repo: one root, a v3 commit for that DID, whose MST walks (NOT_COMMIT, WRONG_DID, MST)", () => {
  it('a root that is a record, a root missing from the CAR, two roots: NOT_COMMIT', async () => {
    expect((await failure(serveRepo(await rewriteCar(repo.car, { root: recordCids[0]! })))).message).toMatch(/not a v3 repo commit/)
    const missing = await failure(serveRepo(await rewriteCar(repo.car, { drop: (cid) => cid === rootCid })))
    expect(missing.code).toBe(RepoSyncErrorCode.NotCommit)
    expect(missing.message).toMatch(/not among its blocks/)
    const two = await failure(serveRepo(withHeader(repo.car, { version: 1, roots: [CID.parse(rootCid), CID.parse(nodeCids[0]!)] })))
    expect(two.code).toBe(RepoSyncErrorCode.NotCommit)
    expect(two.message).toMatch(/2 roots/)
  })

  it('a v2 repo export (commit version 2), which @atproto/repo still reads: NOT_COMMIT naming the version', async () => {
    server.serveCar(REAL_CARS.paulStagingV2.did, REAL_CARS.paulStagingV2.car)
    expect((await referenceRecords(REAL_CARS.paulStagingV2.car)).records).toHaveLength(185)
    const err = await failure(REAL_CARS.paulStagingV2.did)
    expect(err.code).toBe(RepoSyncErrorCode.NotCommit)
    expect(err.message).toMatch(/version 2/)
  })

  it("another DID's repo: WRONG_DID with both DIDs, seen as soon as the commit block arrives", async () => {
    const other = routed((_req, res) => {
      // The commit first, then the server stalls: the fetch must not wait for the rest.
      void rewriteCar(repo.car, { order: 'commit-first' }).then((car) => {
        res.writeHead(200)
        res.write(car.subarray(0, 2000))
      })
    })
    const err = await failure(other)
    expect(err.code).toBe(RepoSyncErrorCode.WrongDid)
    expect(err.fields).toMatchObject({ did: other, commitDid: repo.did })
  })

  it('an MST node or a record missing from the CAR: MST naming what is missing', async () => {
    const node = await failure(serveRepo(await rewriteCar(repo.car, { drop: (cid) => cid === nodeCids[nodeCids.length - 1] })))
    expect(node.code).toBe(RepoSyncErrorCode.Mst)
    expect(node.message).toMatch(/missing from the CAR/)
    const record = await failure(serveRepo(await rewriteCar(repo.car, { drop: (cid) => cid === recordCids[100] })))
    expect(record.code).toBe(RepoSyncErrorCode.Mst)
    expect(record.message).toMatch(/^record .* is missing from the CAR/)
  })
})

describe('an answer other than a CAR says what the PDS meant: its XRPC error, else its status (NOT_FOUND, TAKENDOWN, SUSPENDED, DEACTIVATED, HTTP_STATUS)', () => {
  const cases: [string, number, unknown, string][] = [
    ['500', 500, { error: 'InternalServerError' }, RepoSyncErrorCode.HttpStatus],
    ['404 without a body', 404, null, RepoSyncErrorCode.NotFound],
    ['RepoNotFound', 400, { error: 'RepoNotFound', message: 'Could not find repo' }, RepoSyncErrorCode.NotFound],
    ['RepoTakendown', 400, { error: 'RepoTakendown' }, RepoSyncErrorCode.Takendown],
    ['RepoSuspended', 400, { error: 'RepoSuspended' }, RepoSyncErrorCode.Suspended],
    ['RepoDeactivated', 400, { error: 'RepoDeactivated' }, RepoSyncErrorCode.Deactivated],
    ['an unknown XRPC error', 400, { error: 'SomethingElse' }, RepoSyncErrorCode.HttpStatus],
  ]
  for (const [name, status, body, code] of cases) {
    it(name, async () => {
      const did = routed((_req, res) => (body === null ? res.writeHead(status).end() : json(res, status, body)))
      const err = await failure(did)
      expect(err.code).toBe(code)
      expect(err.fields).toMatchObject({ status, did })
    })
  }

  it('a redirect is not followed (its target is not checked by the guard): HTTP_STATUS 302', async () => {
    const did = routed((_req, res) => res.writeHead(302, { location: `${server.url.origin}/elsewhere` }).end())
    expect((await failure(did)).fields.status).toBe(302)
    expect(server.requests).not.toContain('/elsewhere')
  })
})

describe('every fetch is bounded in size and time (TOO_LARGE, TIMEOUT): a hostile PDS cannot fill the disk or hold a slot forever', () => {
  it('over maxRepoBytes: refused by its Content-Length before reading, or at the first byte over while streaming', async () => {
    const declared = routed((_req, res) => {
      res.writeHead(200, { 'content-length': String(repo.car.byteLength) })
      res.end(repo.car)
    })
    const byHeader = await failure(declared, { maxRepoBytes: 10_000 })
    expect(byHeader.code).toBe(RepoSyncErrorCode.TooLarge)
    expect(byHeader.fields).toMatchObject({ bytes: repo.car.byteLength, limitBytes: 10_000 })
    const streamed = await failure(serveRepo(repo.car), { maxRepoBytes: 10_000 })
    expect(streamed.code).toBe(RepoSyncErrorCode.TooLarge)
    // Stopped within one socket read (at most 64 KiB, the stream's high-water mark) past the limit.
    expect(streamed.fields.bytes).toBeLessThanOrEqual(10_000 + 64 * 1024)
  })

  it('a body that stops coming: TIMEOUT (idle) once idleTimeoutMs pass without bytes, on the fake clock', async () => {
    const stalled = routed((_req, res) => {
      res.writeHead(200)
      res.write(repo.car.subarray(0, 3000))
    })
    const timers = new FakeTimers()
    const pending = failure(stalled, { idleTimeoutMs: 30_000, timeoutMs: 3_600_000 }, timers)
    let settled = false
    void pending.finally(() => (settled = true))
    // Each poll moves the clock past the idle timeout: it fires once the client has the bytes and waits for more.
    await waitUntil(
      () => {
        timers.advance(30_000)
        return settled
      },
      { what: 'the idle timeout', timeoutMs: 10_000 },
    )
    expect((await pending).fields).toMatchObject({ phase: 'idle', timeoutMs: 30_000 })
  })

  it('a body that trickles: TIMEOUT (total) at timeoutMs even though bytes keep coming', async () => {
    let writes = 0
    const trickle = routed((_req, res) => {
      res.writeHead(200)
      const drip = setInterval(() => {
        if (res.destroyed || writes >= repo.car.byteLength) return clearInterval(drip)
        res.write(repo.car.subarray(writes, ++writes))
      }, 1)
    })
    const timers = new FakeTimers()
    const pending = failure(trickle, { idleTimeoutMs: 600_000, timeoutMs: 60_000 }, timers)
    await waitUntil(() => writes > 10, { what: 'the first bytes', timeoutMs: 10_000 })
    timers.advance(60_000)
    const err = await pending
    expect(err.code).toBe(RepoSyncErrorCode.Timeout)
    expect(err.fields).toMatchObject({ phase: 'total', timeoutMs: 60_000 })
  })
})

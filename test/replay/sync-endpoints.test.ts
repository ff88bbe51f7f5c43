import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { get } from 'node:http'
import { readCar as readCarLib } from '@atproto/repo'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { DidResolver } from '../../ingestor/verify/did-resolver.js'
import { startReplay, type ReplayHandle } from '../../replay/index.js'
import { generate, readFrames, tempDir as generatorTempDir, type Generated } from '../generator/helpers.js'
import { until } from './helpers.js'
import { didKeyOf, truthAfter, verifiedRecords, type TruthRepo } from './repo-truth.js'

const SEED = 1818
const SYNC = '/xrpc/com.atproto.sync.'
const COMMITTED = 'fixtures/generated.fixture.gz'
let tmp: Awaited<ReturnType<typeof generatorTempDir>>
let generated: Generated
let frames: Uint8Array[]
let truth: Map<string, TruthRepo>
/** Played to the end once, shared by the read-only tests below. */
let finished: ReplayHandle

beforeAll(async () => {
  tmp = await generatorTempDir()
  generated = await generate(tmp.dir, 'sync.fixture.gz', { events: 500, accounts: 12, medianRecords: 6, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
  truth = truthAfter(frames)
  finished = await startReplay({ files: [generated.path], seed: SEED, logger: silentLogger })
  await until(finished, (status) => status.finished)
}, 60_000)
afterAll(async () => {
  await finished?.close()
  await tmp?.cleanup()
})

const withHead = (repos: Map<string, TruthRepo>): [string, TruthRepo][] => [...repos].filter(([, repo]) => repo.head !== null)

async function xrpc(replay: ReplayHandle, method: string, params: Record<string, string | string[]> = {}, init: RequestInit = {}): Promise<Response> {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) for (const one of [value].flat()) query.append(key, one)
  return fetch(`${replay.httpUrl}${SYNC}${method}?${query.toString()}`, init)
}

async function json(replay: ReplayHandle, method: string, params: Record<string, string | string[]> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await xrpc(replay, method, params)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function getRepo(replay: ReplayHandle, did: string): Promise<{ res: Response; car: Uint8Array }> {
  const res = await xrpc(replay, 'getRepo', { did })
  return { res, car: new Uint8Array(await res.arrayBuffer()) }
}

/** Every page of a paginated list endpoint. */
async function allPages(replay: ReplayHandle, method: string, params: Record<string, string | string[]>): Promise<Record<string, unknown>[]> {
  const repos: Record<string, unknown>[] = []
  let cursor: string | undefined
  for (let page = 0; page < 1000; page++) {
    const { status, body } = await json(replay, method, cursor === undefined ? params : { ...params, cursor })
    expect(status, JSON.stringify(body)).toBe(200)
    repos.push(...(body.repos as Record<string, unknown>[]))
    cursor = body.cursor as string | undefined
    if (cursor === undefined) return repos
  }
  throw new Error(`${method} never ended (seed ${SEED})`)
}

const didKey = (did: string): string => didKeyOf(generated.didDocs[did]!)

/** Fires a fault through the control API, as a test harness would. */
async function injectFault(replay: ReplayHandle, fault: Record<string, unknown>): Promise<Response> {
  return fetch(`${replay.httpUrl}/_replay/fault`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(fault) })
}

describe('getRepo: after the whole fixture, each repo exports as the frames left it (a resync gets exactly the repo a PDS would send)', () => {
  test(`every active repo verifies with @atproto/repo (hashes, signature, MST) and holds exactly the records its commits left (seed ${SEED})`, async () => {
    const active = withHead(truth).filter(([, repo]) => repo.active)
    expect(active.length, `seed ${SEED}: a fixture with active repos`).toBeGreaterThan(5)
    for (const [did, repo] of active) {
      expect(repo.fromCreation, `seed ${SEED} ${did}: --from-creation fixtures start every repo`).toBe(true)
      const { res, car } = await getRepo(finished, did)
      expect(res.status, `seed ${SEED} ${did}`).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/vnd.ipld.car')
      const served = await verifiedRecords(car, did, didKey(did))
      expect(served.records, `seed ${SEED} ${did}`).toEqual(repo.records)
      expect({ commit: served.commit, rev: served.rev }).toEqual({ commit: repo.head!.cid, rev: repo.head!.rev })
    }
  })

  test('an inactive repo is refused as a PDS refuses it: 400 RepoDeactivated / RepoTakendown, deleted is RepoNotFound', async () => {
    const inactive = withHead(truth).filter(([, repo]) => !repo.active)
    expect(inactive.length, `seed ${SEED}: the fixture deactivates or deletes some accounts`).toBeGreaterThan(0)
    const expected: Record<string, string> = { deactivated: 'RepoDeactivated', takendown: 'RepoTakendown', suspended: 'RepoSuspended', deleted: 'RepoNotFound' }
    for (const [did, repo] of inactive) {
      const { res, car } = await getRepo(finished, did)
      expect(res.status).toBe(400)
      expect(JSON.parse(Buffer.from(car).toString()), `${did} ${repo.status}`).toMatchObject({ error: expected[repo.status!] })
      expect((await json(finished, 'getRepoStatus', { did })).body).toEqual({ did, active: false, status: repo.status })
    }
  })
})

describe('getLatestCommit and getRepoStatus: the last commit published (a resync compares revs with them)', () => {
  test('each active repo: {cid, rev} of its last #commit or #sync; status active with that rev', async () => {
    for (const [did, repo] of withHead(truth).filter(([, r]) => r.active)) {
      expect((await json(finished, 'getLatestCommit', { did })).body, `seed ${SEED} ${did}`).toEqual({ cid: repo.head!.cid, rev: repo.head!.rev })
      expect((await json(finished, 'getRepoStatus', { did })).body).toEqual({ did, active: true, rev: repo.head!.rev })
    }
  })
})

describe('listRepos and listReposByCollection: a backfill enumerates every repo exactly once', () => {
  test('listRepos, 3 per page, lists each repo with a commit once, with its head, rev and status', async () => {
    const listed = await allPages(finished, 'listRepos', { limit: '3' })
    const expected = withHead(truth).map(([did, repo]) => ({ did, head: repo.head!.cid, rev: repo.head!.rev, active: repo.active, ...(repo.active ? {} : { status: repo.status }) }))
    expect(listed.map((repo) => repo.did).sort()).toEqual([...new Set(listed.map((repo) => repo.did))].sort())
    expect(listed.sort(byDid)).toEqual(expected.sort(byDid))
  })

  test('listReposByCollection: exactly the active repos with a record in the collection (any of several), paged by 2', async () => {
    const cases = [['app.bsky.feed.like'], ['app.bsky.graph.list'], ['app.bsky.feed.threadgate', 'app.bsky.graph.block'], ['com.example.nothing']]
    for (const collections of cases) {
      const listed = (await allPages(finished, 'listReposByCollection', { collection: collections, limit: '2' })).map((repo) => repo.did as string)
      const expected = withHead(truth)
        .filter(([, repo]) => repo.active && [...repo.records.keys()].some((path) => collections.includes(path.split('/')[0]!)))
        .map(([did]) => did)
      expect(listed.sort(), `seed ${SEED} ${collections.join(',')}`).toEqual(expected.sort())
    }
  })
})

describe('mid-way: a paused replay serves the repos as of the frames published so far (the state a PDS had at that moment)', () => {
  test('pause a paced replay part-way; every endpoint answers for that position', async () => {
    const replay = await startReplay({ files: [generated.path], seed: SEED, rate: { mode: 'rate', eventsPerSec: 400 }, logger: silentLogger })
    try {
      await until(replay, (status) => status.framesPublished >= frames.length / 3)
      replay.pause()
      const position = replay.status().framesPublished
      expect(position, `seed ${SEED}`).toBeLessThan(frames.length)
      const then = truthAfter(frames, position)
      const moved = withHead(then).filter(([did, repo]) => truth.get(did)!.head!.rev !== repo.head!.rev)
      expect(moved.length, `seed ${SEED} position ${position}: some repo moves on after it`).toBeGreaterThan(0)
      for (const [did, repo] of withHead(then)) {
        if (!repo.active) continue
        expect((await json(replay, 'getLatestCommit', { did })).body, `seed ${SEED} position ${position} ${did}`).toEqual({ cid: repo.head!.cid, rev: repo.head!.rev })
        const { car } = await getRepo(replay, did)
        expect((await verifiedRecords(car, did, didKey(did))).records).toEqual(repo.records)
      }
      const listed = await allPages(replay, 'listRepos', { limit: '1000' })
      expect(listed.map((repo) => repo.did).sort()).toEqual(
        withHead(then)
          .map(([did]) => did)
          .sort(),
      )
      const unborn = [...truth.keys()].find((did) => then.get(did)?.head == null)
      if (unborn !== undefined) expect((await json(replay, 'getLatestCommit', { did: unborn })).body).toMatchObject({ error: 'RepoNotFound' })
    } finally {
      await replay.close()
    }
  })
})

describe('memory: streamed fixtures (frames not held by the preload) still export, from blocks the index keeps itself', () => {
  test('--preload-mb 0: every active repo verifies; status counts the bytes kept', async () => {
    const replay = await startReplay({ files: [generated.path], seed: SEED, preloadMaxBytes: 0, logger: silentLogger })
    try {
      const status = await until(replay, (s) => s.finished)
      expect(status.repos.ownBytes).toBeGreaterThan(0)
      for (const [did, repo] of withHead(truth).filter(([, r]) => r.active)) {
        const { car } = await getRepo(replay, did)
        expect((await verifiedRecords(car, did, didKey(did))).records, `seed ${SEED} ${did}`).toEqual(repo.records)
      }
    } finally {
      await replay.close()
    }
  })
})

describe('a repo the fixture does not hold from its creation is not exported, and says why (recordings start mid-history)', () => {
  test('committed fixture: a pre-existing repo answers 500 RepoUnexportable naming its first frame, its head still served; a repo created in it exports', async () => {
    const committed = truthAfter((await readFrames(COMMITTED)).map((frame) => frame.bytes))
    const replay = await startReplay({ files: [COMMITTED], seed: SEED, logger: silentLogger })
    try {
      const status = await until(replay, (s) => s.finished)
      expect(status.repos.unexportable).toBe(withHead(committed).filter(([, repo]) => !repo.fromCreation).length)
      const active = withHead(committed).filter(([, repo]) => repo.active)
      expect(active.some(([, repo]) => repo.fromCreation) && active.some(([, repo]) => !repo.fromCreation), 'the committed fixture has both kinds').toBe(true)
      const docs = JSON.parse(await readFile(`${COMMITTED}.did-docs.json`, 'utf8')) as Record<string, Record<string, unknown>>
      for (const [did, repo] of active) {
        if (repo.fromCreation) {
          const { car } = await getRepo(replay, did)
          expect((await verifiedRecords(car, did, didKeyOf(docs[did]!))).records, did).toEqual(repo.records)
        } else {
          expect(await json(replay, 'getRepo', { did }), did).toMatchObject({ status: 500, body: { error: 'RepoUnexportable', message: expect.stringMatching(/not its creation/) } })
          expect((await json(replay, 'getLatestCommit', { did })).body).toEqual({ cid: repo.head!.cid, rev: repo.head!.rev })
        }
      }
    } finally {
      await replay.close()
    }
  })
})

describe('XRPC errors are {error, message} with the status a PDS uses (clients branch on them)', () => {
  test.each([
    ['getRepo', {}, 400, 'InvalidRequest'],
    ['getRepo', { did: 'not-a-did' }, 400, 'InvalidRequest'],
    ['getRepo', { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }, 400, 'RepoNotFound'],
    ['getLatestCommit', { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }, 400, 'RepoNotFound'],
    ['getRepoStatus', { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }, 400, 'RepoNotFound'],
    ['listRepos', { limit: '0' }, 400, 'InvalidRequest'],
    ['listRepos', { limit: '1001' }, 400, 'InvalidRequest'],
    ['listRepos', { cursor: 'abc' }, 400, 'InvalidRequest'],
    ['listRepos', { cursor: '999999' }, 400, 'InvalidRequest'],
    ['listReposByCollection', { collection: 'no dots' }, 400, 'InvalidRequest'],
    ['listReposByCollection', { limit: '2001' }, 400, 'InvalidRequest'],
    ['getBlob', {}, 501, 'MethodNotImplemented'],
  ] as const)('%s %j -> %i %s', async (method, params, status, error) => {
    const answer = await json(finished, method, params)
    expect(answer.status).toBe(status)
    expect(answer.body).toMatchObject({ error })
    expect(typeof answer.body.message).toBe('string')
  })

  test('POST is 405; the sync endpoints answer any Host (like subscribeRepos) while the control API still refuses it', async () => {
    expect((await xrpc(finished, 'listRepos', {}, { method: 'POST' })).status).toBe(405)
    const viaServiceName = await rawGet(`${finished.httpUrl}${SYNC}listRepos`, { Host: 'replay:2470' })
    expect(viaServiceName.status).toBe(200)
    expect((await rawGet(`${finished.httpUrl}/_replay/status`, { Host: 'replay:2470' })).status).toBe(403)
  })
})

describe('PLC directory: DID documents whose PDS is the replay, signed by the fixture key (a resolver finds getRepo here)', () => {
  test('GET /plc/<did>: the sidecar document, #atproto_pds = this server; the ingestor DidResolver resolves its key', async () => {
    const did = withHead(truth)[0]![0]
    const res = await fetch(`${finished.plcUrl}/${did}`)
    expect(res.status).toBe(200)
    const doc = (await res.json()) as Record<string, unknown>
    expect(doc.verificationMethod).toEqual(generated.didDocs[did]!.verificationMethod)
    expect(doc.service).toEqual([{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: finished.httpUrl }])
    const resolver = new DidResolver({ plcUrl: finished.plcUrl, cacheSize: 10, ttlMs: 60_000, timeoutMs: 5_000, maxInFlight: 2 })
    expect((await resolver.resolve(did)).resolution.kind).toBe('key')
    expect((await resolver.resolve('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa')).resolution).toMatchObject({ kind: 'unresolved', reason: expect.stringMatching(/404/) })
  })

  test('the PDS endpoint is the replay as the request reached it (a compose service name)', async () => {
    const did = withHead(truth)[0]![0]
    const answer = await rawGet(`${finished.plcUrl}/${did}`, { Host: 'replay:2470' })
    expect((JSON.parse(answer.body.toString()) as { service: unknown }).service).toEqual([{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'http://replay:2470' }])
  })
})

describe('getRepo faults behave as docs/replay.md says (a resync client must survive each)', () => {
  let replay: ReplayHandle
  let did: string
  let other: string
  let whole: Uint8Array
  beforeAll(async () => {
    replay = await startReplay({ files: [generated.path], seed: SEED, logger: silentLogger })
    await until(replay, (status) => status.finished)
    ;[did, other] = withHead(truth)
      .filter(([, repo]) => repo.active)
      .map(([d]) => d) as [string, string]
    whole = (await getRepo(replay, did)).car
  })
  afterAll(async () => replay?.close())

  test('get-repo-500 count 2 for one DID: its next two getRepo are 500 InternalServerError, other DIDs unaffected, then it serves again', async () => {
    expect((await injectFault(replay, { kind: 'get-repo-500', count: 2, did })).status).toBe(200)
    expect((await getRepo(replay, other)).res.status).toBe(200)
    for (let i = 0; i < 2; i++) expect(await json(replay, 'getRepo', { did })).toMatchObject({ status: 500, body: { error: 'InternalServerError' } })
    expect((await getRepo(replay, did)).res.status).toBe(200)
    expect(replay.status().syncFaults.filter((fault) => fault.kind === 'get-repo-500')).toEqual([
      { kind: 'get-repo-500', did, atFrame: frames.length },
      { kind: 'get-repo-500', did, atFrame: frames.length },
    ])
  })

  test('get-repo-429: RateLimitExceeded with Retry-After and RateLimit-Reset in epoch seconds', async () => {
    await injectFault(replay, { kind: 'get-repo-429', retryAfterSec: 7 })
    const before = Math.floor(Date.now() / 1000)
    const res = await xrpc(replay, 'getRepo', { did })
    const after = Math.ceil(Date.now() / 1000)
    expect(res.status).toBe(429)
    expect(await res.json()).toMatchObject({ error: 'RateLimitExceeded' })
    expect(res.headers.get('retry-after')).toBe('7')
    const reset = Number(res.headers.get('ratelimit-reset'))
    expect(reset).toBeGreaterThanOrEqual(before + 7)
    expect(reset).toBeLessThanOrEqual(after + 7)
    expect(res.headers.get('ratelimit-remaining')).toBe('0')
  })

  test('get-repo-slow: the CAR trickles at bytesPerSec (a slice per 100 ms) and arrives whole', async () => {
    const bytesPerSec = Math.ceil(whole.length / 0.6) // six slices or so
    await injectFault(replay, { kind: 'get-repo-slow', bytesPerSec })
    const started = performance.now()
    const { res, car } = await getRepo(replay, did)
    const elapsed = performance.now() - started
    const slices = Math.ceil(whole.length / Math.round(bytesPerSec / 10))
    expect(res.status).toBe(200)
    expect(Buffer.from(car).equals(Buffer.from(whole))).toBe(true)
    expect(elapsed).toBeGreaterThanOrEqual((slices - 1) * 100 - 5)
  })

  test('get-repo-truncate: full Content-Length, `bytes` of body, then the connection is cut (default: half)', async () => {
    await injectFault(replay, { kind: 'get-repo-truncate', bytes: 100 })
    const cut = await rawGet(`${replay.httpUrl}${SYNC}getRepo?did=${did}`)
    expect(cut).toMatchObject({ status: 200, complete: false, contentLength: whole.length })
    expect(cut.body.length).toBe(100)
    expect(Buffer.from(whole).subarray(0, 100).equals(cut.body)).toBe(true)
    await injectFault(replay, { kind: 'get-repo-truncate' })
    expect((await rawGet(`${replay.httpUrl}${SYNC}getRepo?did=${did}`)).body.length).toBe(Math.floor(whole.length / 2))
  })

  test('get-repo-corrupt: exactly one block (the one status names) no longer hashes to its CID; @atproto/repo refuses the CAR', async () => {
    await injectFault(replay, { kind: 'get-repo-corrupt' })
    const { res, car } = await getRepo(replay, did)
    expect(res.status).toBe(200)
    expect(car.length).toBe(whole.length)
    await expect(verifiedRecords(car, did, didKey(did))).rejects.toThrow()
    const { blocks } = await readCarLib(car, { skipCidVerification: true })
    const bad = blocks.entries().filter(({ cid, bytes }) => createHash('sha256').update(bytes).digest().compare(Buffer.from(cid.multihash.digest)) !== 0)
    const named = replay.status().syncFaults.find((fault) => fault.kind === 'get-repo-corrupt')
    expect(bad.map(({ cid }) => cid.toString())).toEqual([named?.cid])
    // The fault altered a copy: the next request gets the repo intact (it once altered the published frame itself).
    const next = await getRepo(replay, did)
    expect(Buffer.from(next.car).equals(Buffer.from(whole))).toBe(true)
  })

  test('a planned sync fault fires at its frame: get-repo-500 atFrame N leaves earlier requests alone', async () => {
    const paused = await startReplay({ files: [generated.path], seed: SEED, start: 'paused', faults: [{ kind: 'get-repo-500', atFrame: 50 }], logger: silentLogger })
    try {
      expect((await json(paused, 'getRepo', { did })).status).toBe(400) // nothing published yet: RepoNotFound, not the fault
      paused.resume()
      await until(paused, (status) => status.finished)
      expect((await json(paused, 'getRepo', { did })).body).toMatchObject({ error: 'InternalServerError' })
      expect((await getRepo(paused, did)).res.status).toBe(200)
    } finally {
      await paused.close()
    }
  })

  test('sync faults take no `client` (they apply to requests) and keep their bounds', async () => {
    expect((await injectFault(replay, { kind: 'get-repo-500', client: 1 })).status).toBe(400)
    expect((await injectFault(replay, { kind: 'get-repo-slow', bytesPerSec: 0 })).status).toBe(400)
    expect((await injectFault(replay, { kind: 'get-repo-429', retryAfterSec: 3601 })).status).toBe(400)
  })
})

function byDid(a: Record<string, unknown>, b: Record<string, unknown>): number {
  return String(a.did).localeCompare(String(b.did))
}

/** A GET with node:http: sends the given Host, reports a body cut short instead of throwing. */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; contentLength: number; body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers }, (res) => {
      const chunks: Buffer[] = []
      let complete = false
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => (complete = true))
      res.on('error', () => {})
      res.on('close', () => resolve({ status: res.statusCode ?? 0, contentLength: Number(res.headers['content-length']), body: Buffer.concat(chunks), complete: complete && res.complete }))
    })
    req.on('error', reject)
  })
}

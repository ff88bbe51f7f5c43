import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyLayout } from '../../common/key-layout.js'
import { silentLogger } from '../../common/logger.js'
import { systemTimers } from '../../common/timers.js'
import { BackfillStore } from '../../backfill/backfill-store.js'
import { BackfillError, BackfillErrorCode } from '../../backfill/errors.js'
import { parseDidList, RepoLister } from '../../backfill/repo-lister.js'
import { runBackfill } from '../../backfill/run-backfill.js'
import type { BackfillSelection, ListedPage, ListedRepo, ListingPosition } from '../../backfill/selection.js'
import { waitUntil } from '../../harness/wait.js'
import type { ReplayHandle } from '../../replay/index.js'
import { RepoSyncErrorCode } from '../../repo-sync/errors.js'
import { generate, tempDir, type Generated } from '../generator/helpers.js'
import { ownRedisForSuite, replay, uniqueKeys } from '../ingestor/helpers.js'
import { truthAfter, type TruthRepo } from '../replay/repo-truth.js'
import { CarPds, type CarPdsFault } from '../support/car-pds.js'
import { listingClient } from './backfill-rig.js'

/**
 * RepoLister against real servers: the replay's listRepos and listReposByCollection over a
 * generated network (every frame published), paged 7 at a time, against the frames' own account
 * states and records; a DID list; and car-pds answering against the lexicon, which must end in a
 * BackfillError with a stable code (a listing server is configuration, not something to crash on).
 */
const SEED = 4242
const PAGE = 7
const COLLECTIONS = ['app.bsky.graph.block', 'app.bsky.feed.repost'] as const
let tmp: Awaited<ReturnType<typeof tempDir>>
let generated: Generated
let relay: ReplayHandle
let truth: Map<string, TruthRepo>

beforeAll(async () => {
  tmp = await tempDir()
  generated = await generate(tmp.dir, 'lister.fixture.gz', { events: 600, accounts: 60, medianRecords: 4, seed: SEED, workers: 0, fromCreation: true })
  const frames = generated.frames.map((frame) => frame.bytes)
  truth = truthAfter(frames)
  relay = await replay([generated.path], { start: 'now', seed: SEED, rate: { mode: 'max' } })
  await waitUntil(() => relay.status().framesPublished >= frames.length, { what: `all ${frames.length} frames published (seed ${SEED})`, timeoutMs: 30_000 })
}, 120_000)
afterAll(async () => {
  await relay?.close()
  await tmp?.cleanup()
})

/** Every page of a listing from its start, each with the position it was asked at; bounded, so a listing that never ends fails the test. */
async function allPages(lister: RepoLister): Promise<(ListedPage & { at: ListingPosition })[]> {
  const pages: (ListedPage & { at: ListingPosition })[] = []
  for (let at: ListingPosition | null = { part: 0, cursor: null }; at !== null; at = pages[pages.length - 1]!.next) {
    if (pages.length > 1_000) throw new Error(`more than 1,000 pages (seed ${SEED})`)
    pages.push({ at, ...(await lister.page(at)) })
  }
  return pages
}

const lister = (selection: BackfillSelection, listFrom: URL | null = new URL(relay.httpUrl)): RepoLister => new RepoLister(listingClient(), selection, listFrom, { pageSize: PAGE })

/** A repo as listRepos must give it, from the frames: active unless its last #account said otherwise, with that status. */
function listedTruth(did: string, repo: TruthRepo): ListedRepo {
  return { did, active: repo.active, status: repo.active ? null : (repo.status ?? null) }
}

describe('the replay listed 7 at a time: every repo exactly once, as the frames left it', () => {
  it('listRepos: every repo with a commit once across the pages, with its active flag and status', async () => {
    const pages = await allPages(lister({ kind: 'all' }))
    const listed = pages.flatMap((page) => page.repos)
    const expected = [...truth].filter(([, repo]) => repo.head !== null).map(([did, repo]) => listedTruth(did, repo))
    expect(
      pages.slice(0, -1).every((page) => page.repos.length === PAGE && page.next?.part === 0),
      `seed ${SEED}`,
    ).toBe(true)
    expect(pages[pages.length - 1]!.repos.length, `seed ${SEED}`).toBeGreaterThan(0)
    expect(new Set(listed.map((repo) => repo.did)).size, `seed ${SEED}: a DID listed twice`).toBe(listed.length)
    expect(sortByDid(listed), `seed ${SEED}`).toEqual(sortByDid(expected))
    // The fixture must hold accounts of both kinds, or the flags are not tested.
    expect(listed.filter((repo) => !repo.active).length, `seed ${SEED}`).toBeGreaterThan(0)
    expect(listed.length, `seed ${SEED}`).toBeGreaterThan(3 * PAGE)
  })

  it('listReposByCollection for two collections: one part each, every active repo with a record there once per part', async () => {
    const pages = await allPages(lister({ kind: 'collections', collections: COLLECTIONS }))
    COLLECTIONS.forEach((collection, part) => {
      const listed = pages.filter((page) => page.at.part === part).flatMap((page) => page.repos)
      const expected = [...truth].filter(([, repo]) => repo.active && [...repo.records.keys()].some((path) => path.startsWith(`${collection}/`))).map(([did]) => did)
      expect(new Set(listed.map((repo) => repo.did)).size, `seed ${SEED}, ${collection}: a DID listed twice`).toBe(listed.length)
      expect(listed.map((repo) => repo.did).sort(), `seed ${SEED}, ${collection}`).toEqual(expected.sort())
      expect(listed.every((repo) => repo.active && repo.status === null)).toBe(true)
      expect(expected.length, `seed ${SEED}, ${collection}: no repo holds one`).toBeGreaterThan(PAGE)
    })
    // A collection only some repos hold: the two lists differ, so the parts are not one listing twice.
    const partDids = COLLECTIONS.map((_, part) => new Set(pages.filter((page) => page.at.part === part).flatMap((page) => page.repos.map((repo) => repo.did))))
    expect(partDids[0], `seed ${SEED}`).not.toEqual(partDids[1])
    expect(pages.filter((page) => page.at.part > 1)).toEqual([])
  })

  it('a DID list: pages of 7 in the list order, the last one shorter, no server asked', async () => {
    const dids = [...truth.keys()].slice(0, 3 * PAGE - 2)
    const pages = await allPages(lister({ kind: 'dids', dids }, null))
    expect(pages.map((page) => page.repos.length)).toEqual([PAGE, PAGE, PAGE - 2])
    expect(pages.map((page) => page.next)).toEqual([{ part: 0, cursor: '7' }, { part: 0, cursor: '14' }, null])
    expect(pages.flatMap((page) => page.repos)).toEqual(dids.map((did) => ({ did, active: true, status: null })))
  })
})

describe('a listing server answering against the lexicon: BackfillError with a stable code', () => {
  let pds: CarPds
  beforeAll(async () => {
    pds = await CarPds.start()
  })
  afterAll(async () => {
    await pds?.close()
  })

  /** The error of one page asked at `at` while `fault` answers. */
  async function failure(fault: CarPdsFault, at: ListingPosition = { part: 0, cursor: null }): Promise<BackfillError> {
    pds.fail('listRepos', fault)
    return backfillErrorOf(lister({ kind: 'all' }, pds.url).page(at))
  }

  it('not JSON, no repos array, a repos entry without a valid DID, a cursor of another type: BACKFILL_LIST_BAD_ANSWER naming what is wrong', async () => {
    const cases: [CarPdsFault, RegExp][] = [
      [{ kind: 'garbage' }, /not JSON/],
      [{ kind: 'json', body: {} }, /no repos array/],
      [{ kind: 'json', body: { repos: 'did:plc:aaaa' } }, /no repos array/],
      [{ kind: 'json', body: [] }, /no repos array/],
      [{ kind: 'json', body: { repos: [{ did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz' }, { did: 'at://not-a-did' }] } }, /repos\[1\] without a valid DID/],
      [{ kind: 'json', body: { repos: [null] } }, /repos\[0\] without a valid DID/],
      [{ kind: 'json', body: { repos: [], cursor: 12 } }, /cursor of type number/],
    ]
    for (const [fault, message] of cases) {
      const err = await failure(fault)
      expect(err.code, JSON.stringify(fault)).toBe(BackfillErrorCode.ListBadAnswer)
      expect(err.message, JSON.stringify(fault)).toMatch(message)
      expect(err.fields.url).toMatch(/com\.atproto\.sync\.listRepos/)
    }
  })

  it('the cursor it was asked with: BACKFILL_LIST_BAD_ANSWER (the listing would not move)', async () => {
    const err = await failure({ kind: 'json', body: { cursor: 'abc', repos: [{ did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz' }] } }, { part: 0, cursor: 'abc' })
    expect(err.code).toBe(BackfillErrorCode.ListBadAnswer)
    expect(err.message).toMatch(/does not move/)
  })

  it('4xx and 5xx: BACKFILL_LIST_STATUS with the status, and the XRPC error name when the body gives one', async () => {
    const refused = await failure({ kind: 'json', status: 400, body: { error: 'InvalidRequest', message: 'bad cursor' } })
    expect(refused.code).toBe(BackfillErrorCode.ListStatus)
    expect(refused.fields.status).toBe(400)
    expect(refused.message).toMatch(/answered 400 \(InvalidRequest\)/)
    const broken = await failure({ kind: 'status-500' })
    expect(broken.code).toBe(BackfillErrorCode.ListStatus)
    expect(broken.fields.status).toBe(500)
    const plain = await failure({ kind: 'json', status: 404, body: 'not found' })
    expect(plain.fields.status).toBe(404)
    expect(plain.message).toMatch(/answered 404 to/)
  })

  it('a server without listReposByCollection (XRPC answers 501 MethodNotImplemented): BACKFILL_LIST_STATUS 501', async () => {
    const err = await backfillErrorOf(lister({ kind: 'collections', collections: ['app.bsky.feed.post'] }, pds.url).page({ part: 0, cursor: null }))
    expect(err).toMatchObject({ code: BackfillErrorCode.ListStatus, fields: { status: 501 } })
  })

  it('a 429: REPO_SYNC_RATE_LIMITED from the client (its limiter pauses the host until RateLimit-Reset), then the next page is answered', async () => {
    pds.fail('listRepos', { kind: 'rate-limited', resetInSec: 1 })
    const list = lister({ kind: 'all' }, pds.url)
    const limited = await list.page({ part: 0, cursor: null }).then(
      () => null,
      (e: unknown) => e,
    )
    expect(limited).toMatchObject({ code: RepoSyncErrorCode.RateLimited })
    const before = pds.requests.length
    const page = await list.page({ part: 0, cursor: null })
    expect(page).toEqual({ repos: [], next: null })
    expect(pds.requests.length).toBe(before + 1)
  })
})

describe('runBackfill over a listing server that fails: a 500 and a 429 are waited out, an answer against the lexicon or a method it lacks stops the run', () => {
  const own = ownRedisForSuite()
  let pds: CarPds
  const DIDS = Array.from({ length: 3 * PAGE + 1 }, (_, i) => `did:web:repo${i}.example.com`)

  beforeAll(async () => {
    pds = await CarPds.start()
    // listRepos answers what it was given: the lister checks answers, not the CARs behind them.
    for (let at = 0; at < DIDS.length; at += PAGE) {
      const repos = DIDS.slice(at, at + PAGE).map((did) => ({ did, head: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm', rev: '3ljlyqit2uk2l', active: true }))
      if (at === PAGE) pds.fail('listRepos', { kind: 'status-500' })
      if (at === 2 * PAGE) pds.fail('listRepos', { kind: 'rate-limited', resetInSec: 1 })
      pds.fail('listRepos', { kind: 'json', body: at + PAGE < DIDS.length ? { cursor: String(at + PAGE), repos } : { repos } })
    }
  })
  afterAll(async () => {
    await pds?.close()
  })

  const run = (selection: BackfillSelection, stream: string): ReturnType<typeof runBackfill> =>
    runBackfill({
      store: new BackfillStore(own.admin, keyLayout(2, false), stream),
      lister: lister(selection, pds.url),
      selection,
      restart: false,
      wait: false,
      maxOutstanding: 10_000,
      pollMs: 20,
      backoff: { initialMs: 20, maxMs: 200 },
      timers: systemTimers,
      logger: silentLogger,
    })

  it('pages answered after a 500 and a 429: every DID marked once, the listing complete', async () => {
    // The answers queued in beforeAll, in order: page 1, a 500, page 2, a 429, page 3, page 4.
    const before = pds.requests.length
    const final = await run({ kind: 'all' }, uniqueKeys('test:lister-retry').stream)
    expect(final).toMatchObject({ listed: DIDS.length, listingComplete: true, pages: 4 })
    expect(pds.requests.length - before).toBe(6)
  })

  it('garbage: the run stops with BACKFILL_LIST_BAD_ANSWER at once, nothing marked', async () => {
    pds.fail('listRepos', { kind: 'garbage' })
    const { stream } = uniqueKeys('test:lister-garbage')
    const err = await backfillErrorOf(run({ kind: 'all' }, stream))
    expect(err.code).toBe(BackfillErrorCode.ListBadAnswer)
    expect(await new BackfillStore(own.admin, keyLayout(2, false), stream).counts()).toMatchObject({ listed: 0 })
  })

  it('listReposByCollection on a server that lacks it (501): the run stops with BACKFILL_LIST_STATUS instead of asking again for ever', async () => {
    const err = await backfillErrorOf(run({ kind: 'collections', collections: ['app.bsky.feed.post'] }, uniqueKeys('test:lister-501').stream))
    expect(err).toMatchObject({ code: BackfillErrorCode.ListStatus, fields: { status: 501 } })
  })
})

describe('parseDidList', () => {
  it('skips comments and blank lines, trims, keeps the first of duplicates in order', () => {
    const text = ['# repos to backfill', '', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', '  did:web:example.com  ', '\t', '# again:', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:plc:kzcqyc3unb33eh5sxzsfs25z\r', ''].join('\n')
    expect(parseDidList(text, 'dids.txt')).toEqual(['did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:web:example.com', 'did:plc:kzcqyc3unb33eh5sxzsfs25z'])
    expect(parseDidList('', 'empty.txt')).toEqual([])
  })

  it('a line that is not a DID: BACKFILL_BAD_DID_LIST naming the file and the line number', async () => {
    for (const [text, line] of [
      ['did:plc:ewvi7nxzyoun6zhxrhs64oiz\n\n# ok\nhttps://bsky.app/profile/x\n', 4],
      ['did:plc:ewvi7nxzyoun6zhxrhs64oiz did:plc:kzcqyc3unb33eh5sxzsfs25z', 1],
      ['did:plc:a\ndid:', 2],
    ] as const) {
      const err = await backfillErrorOf(Promise.resolve().then(() => parseDidList(text, 'list.txt')))
      expect(err.code, text).toBe(BackfillErrorCode.BadDidList)
      expect(err.fields.line, text).toBe(line)
      expect(err.message, text).toMatch(new RegExp(`^list\\.txt:${line}: not a DID`))
    }
  })
})

function sortByDid(repos: ListedRepo[]): ListedRepo[] {
  return [...repos].sort((a, b) => a.did.localeCompare(b.did))
}

/** What `promise` rejects with, which must be a BackfillError. */
async function backfillErrorOf(promise: Promise<unknown>): Promise<BackfillError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(BackfillError)
  return err as BackfillError
}

import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { CarBuilder } from '../../protocol/car-writer.js'
import { exportable, RepoBook } from '../../replay/repo-book.js'
import { exportRepo } from '../../replay/repo-export.js'
import { generate, tempDir, type Generated } from '../generator/helpers.js'
import { didKeyOf, truthAfter, verifiedRecords, type TruthRepo } from './repo-truth.js'

const SEED = 4242
let tmp: Awaited<ReturnType<typeof tempDir>>
let generated: Generated
let frames: Uint8Array[]
let truth: Map<string, TruthRepo>

beforeAll(async () => {
  tmp = await tempDir()
  generated = await generate(tmp.dir, 'book.fixture.gz', { events: 400, accounts: 10, medianRecords: 6, seed: SEED, workers: 0, fromCreation: true })
  frames = generated.frames.map((frame) => frame.bytes)
  truth = truthAfter(frames)
}, 60_000)
afterAll(async () => tmp?.cleanup())

/** Publishes every frame (`round` as the source would give it); returns the highest ownBytes seen after any frame, and whether it ever went down (compaction). */
function publishAll(book: RepoBook, round: number): { peak: number; shrank: boolean } {
  let peak = 0
  let shrank = false
  for (const bytes of frames) {
    const before = book.ownBytes
    book.published({ bytes, timeUs: 0, seq: undefined, round })
    if (book.ownBytes < before) shrank = true
    peak = Math.max(peak, book.ownBytes)
  }
  return { peak, shrank }
}

/** Each exportable repo's CAR, checked by @atproto/repo against the truth; returns how many were checked. */
async function expectExportsExact(book: RepoBook): Promise<number> {
  let checked = 0
  for (const [did, repo] of truth) {
    const entry = book.get(did)
    if (repo.head === null || entry?.unexportable !== null) continue
    const blocks = exportRepo(exportable(entry))
    const car = new CarBuilder()
    for (const block of blocks) car.add(block.cid, block.bytes)
    const served = await verifiedRecords(car.encode(blocks[0]!.cid), did, didKeyOf(generated.didDocs[did]!))
    expect(served.records, `seed ${SEED} ${did}`).toEqual(repo.records)
    checked++
  }
  return checked
}

/** Bytes of every repo's live export at the end: what the index must at least keep when it holds the blocks itself. */
function liveBytes(): number {
  const book = new RepoBook({ preloaded: true, logger: silentLogger })
  publishAll(book, 0)
  let total = 0
  for (const [did, repo] of truth) if (repo.head !== null) total += exportRepo(exportable(book.get(did)!)).reduce((n, block) => n + block.bytes.length, 0)
  return total
}

describe('frames the preload holds cost the index no bytes of its own (views, not copies)', () => {
  test('preloaded round 0: ownBytes stays 0 and every repo exports exactly', async () => {
    const book = new RepoBook({ preloaded: true, logger: silentLogger })
    expect(publishAll(book, 0).peak).toBe(0)
    expect(await expectExportsExact(book)).toBe([...truth.values()].filter((repo) => repo.head !== null).length)
  })
})

describe('frames nobody else holds are bounded: past maxOwnBytes, repos are compacted to their live blocks (streamed fixtures, --loop)', () => {
  test('a bound above the live size: compaction runs, the bound holds after every frame, every export stays exact', async () => {
    const maxOwnBytes = Math.ceil(liveBytes() * 3)
    const book = new RepoBook({ preloaded: false, logger: silentLogger, maxOwnBytes })
    const { peak, shrank } = publishAll(book, 0)
    expect(shrank, `seed ${SEED}: the frames' CARs exceed the bound, so compaction ran`).toBe(true)
    expect(peak).toBeLessThanOrEqual(maxOwnBytes)
    expect(book.unexportable).toBe(0)
    expect(await expectExportsExact(book)).toBeGreaterThan(0)
  })

  test('a bound below the live size: the largest repos are dropped, named unexportable; the others still export exactly', async () => {
    const maxOwnBytes = Math.ceil(liveBytes() / 2)
    const book = new RepoBook({ preloaded: false, logger: silentLogger, maxOwnBytes })
    expect(publishAll(book, 0).peak).toBeLessThanOrEqual(maxOwnBytes)
    const dropped = [...truth.keys()].map((did) => book.get(did)!).filter((entry) => entry.unexportable !== null)
    expect(dropped.length).toBeGreaterThan(0)
    expect(book.unexportable).toBe(dropped.length)
    for (const entry of dropped) expect(entry.unexportable).toMatch(/^dropped: /)
    expect(await expectExportsExact(book)).toBeGreaterThan(0)
  })
})

describe('a creation commit starts a repo over (--loop replays the fixture: round 2 re-creates every repo)', () => {
  test('two rounds: the second round counts as own bytes, the repos end as the fixture leaves them', async () => {
    const book = new RepoBook({ preloaded: true, logger: silentLogger })
    publishAll(book, 0)
    const { peak } = publishAll(book, 1)
    expect(peak).toBeGreaterThan(0)
    expect(await expectExportsExact(book)).toBe([...truth.values()].filter((repo) => repo.head !== null).length)
  })
})

describe('the number of DIDs indexed is bounded (a long recording names millions)', () => {
  test('maxRepos 3: the first three DIDs are indexed, later ones are not', () => {
    const book = new RepoBook({ preloaded: true, logger: silentLogger, maxRepos: 3 })
    publishAll(book, 0)
    expect(book.size).toBe(3)
    expect([...truth.keys()].filter((did) => book.get(did) !== undefined)).toHaveLength(3)
  })
})

import { describe, expect, it } from 'vitest'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import { compareStreams } from '../../stream-check/stream-compare.js'
import { ownRedisForSuite } from '../ingestor/helpers.js'
import { relay, snapshot, xaddEntries } from '../support/repo-state-stream.js'

/** compareStreams on streams written here with XADD in contract order, read from a real Redis. */
const own = ownRedisForSuite()

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb'

const writeStream = (entries: StreamEntry[]): Promise<string> => xaddEntries(own.admin, entries, 'compare-test')

describe('the overlap is the seqs both streams cover: outside it an entry is coverage, not a disagreement', () => {
  it('is found in the one merge, from the first and last seq each stream compares', async () => {
    const a = await writeStream(Array.from({ length: 10 }, (_, i) => relay.identity(i + 1, ALICE)))
    const b = await writeStream(Array.from({ length: 11 }, (_, i) => relay.identity(i + 5, ALICE)))
    const result = await compareStreams(own.admin, a, b)
    expect(result).toMatchObject({ overlap: [5, 10], outsideOverlap: { a: 4, b: 5 }, onlyInA: { count: 0 }, onlyInB: { count: 0 }, ok: true })
    expect([result.a.firstSeq, result.a.lastSeq, result.b.firstSeq, result.b.lastSeq]).toEqual([1, 10, 5, 15])
  })
})

describe('with repoState, snapshot entries are checked on their own and the commits and #syncs one stream lacks are withheld: per-repo state leaves them out or publishes them after later seqs', () => {
  // B as every relay event; A as an ingestor with --repo-state writes it: #sync 3 withheld, a snapshot of Bob at the cursor (2), commit 5 of Alice held and released after 6.
  const all = [relay.commit(1, ALICE), relay.commit(2, BOB), relay.sync(3, BOB), relay.commit(4, BOB), relay.commit(5, ALICE), relay.identity(6, BOB)]
  const bob = snapshot(BOB, 'bob-1', 2, [2, 1])
  const withRepoState = [all[0]!, all[1]!, bob.begin, ...bob.parts, bob.end, all[3]!, all[5]!, all[4]!]

  it('they agree', async () => {
    const result = await compareStreams(own.admin, await writeStream(withRepoState), await writeStream(all), { repoState: true })
    expect(result).toMatchObject({
      agree: true,
      ok: true,
      repoState: true,
      onlyInA: { count: 0 },
      onlyInB: { count: 0 },
      withheldFromA: {
        count: 2,
        ranges: [
          [3, 3],
          [5, 5],
        ],
      },
      withheldFromB: { count: 0 },
    })
    expect(result.a).toMatchObject({ entries: 9, outOfOrder: 1, firstSeq: 1, lastSeq: 6 })
    expect(result.a.snapshots).toMatchObject({ begun: 1, complete: 1, records: 3, violations: { count: 0 } })
  })

  it('without repoState they do not compare: the snapshot entries make it fail, the lacking seqs are disagreements', async () => {
    const result = await compareStreams(own.admin, await writeStream(withRepoState), await writeStream(all))
    expect(result).toMatchObject({ ok: false, repoState: false, onlyInB: { count: 2 }, withheldFromA: { count: 0 } })
    expect(result.a.snapshots.entries).toBe(4)
  })

  it('an #identity or #account one lacks is still a disagreement: per-repo state publishes them all', async () => {
    const seven = relay.commit(7, BOB)
    const result = await compareStreams(own.admin, await writeStream([...withRepoState.filter((entry) => entry !== all[5]), seven]), await writeStream([...all, seven]), { repoState: true })
    expect(result).toMatchObject({ agree: false, ok: false, onlyInB: { count: 1, ranges: [[6, 6]] } })
  })
})

describe('with repoState, a stream whose snapshots break their rules fails the comparison though the streams agree: its workers would apply them wrong', () => {
  it('fails, agreeing; an open snapshot does not fail (a live stream has them)', async () => {
    const bob = snapshot(BOB, 'bob-2', 2, [1, 1])
    const base = [relay.commit(1, ALICE), relay.commit(2, BOB)]
    const broken = await compareStreams(own.admin, await writeStream([...base, bob.begin, bob.parts[1]!, bob.end]), await writeStream(base), { repoState: true })
    expect(broken).toMatchObject({ agree: true, ok: false })
    expect(broken.a.snapshots.violations.first.map((violation) => violation.rule)).toEqual(['part-skipped', 'end-counts'])
    const open = await compareStreams(own.admin, await writeStream([...base, bob.begin, bob.parts[0]!]), await writeStream(base), { repoState: true })
    expect(open).toMatchObject({ agree: true, ok: true, a: { snapshots: { open: 1 } } })
  })
})

import { describe, expect, it } from 'vitest'
import { entryFields, type StreamEntry } from '../../protocol/stream-entry.js'
import { shardOfDid } from '../../protocol/shard.js'
import { checkShards } from '../../stream-check/shard-checker.js'
import { checkStream } from '../../stream-check/stream-checker.js'
import { ownRedisForSuite } from '../ingestor/helpers.js'
import { endSaying, relay, snapshot, storedState as state, xaddEntries } from '../support/repo-state-stream.js'

/**
 * checkStream on streams an ingestor with `--repo-state` writes: each written here with XADD in
 * contract order, read back by the checker from a real Redis.
 */
const own = ownRedisForSuite()

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb'
const CAROL = 'did:plc:carolccccccccccccccccccc'

const writeStream = (entries: StreamEntry[]): Promise<string> => xaddEntries(own.admin, entries, 'repo-state-checker')

async function check(entries: StreamEntry[], expected: StreamEntry[], repoState = true): Promise<Awaited<ReturnType<typeof checkStream>>> {
  return checkStream({ redisUrl: own.redis.url, stream: await writeStream(entries), expected, repoState })
}

/** The rules a stream's snapshots broke, in order. */
async function brokenRules(entries: StreamEntry[]): Promise<string[]> {
  return (await check(entries, [])).snapshots.violations.first.map((violation) => violation.rule)
}

describe('snapshot entries are not relay events: their seq repeats the cursor, so they are never duplicates, out of order or unexpected', () => {
  const expected = [relay.commit(1, ALICE), relay.commit(2, BOB), relay.commit(3, ALICE), relay.commit(4, CAROL)]
  const carol = snapshot(CAROL, 'carol-1', 3, [2, 1])
  const stream = [expected[0]!, expected[1]!, expected[2]!, carol.begin, ...carol.parts, carol.end, expected[3]!]

  it('with repoState: the relay entries check clean, the snapshot is counted apart', async () => {
    const result = await check(stream, expected)
    expect(result).toMatchObject({ delivered: 4, lost: [], duplicated: [], outOfOrder: [], unexpected: [], mismatched: [], late: [], entries: 8, ok: true })
    expect(result.snapshots).toEqual({ entries: 4, begun: 1, complete: 1, abandoned: 0, open: 0, openIds: [], parts: 2, records: 3, violations: { count: 0, first: [] } })
  })

  it('without repoState the stream does not check (ok false), and snapshots says why: the relay counts stay clean', async () => {
    const result = await check(stream, expected, false)
    expect(result).toMatchObject({ lost: [], duplicated: [], outOfOrder: [], unexpected: [], ok: false })
    expect(result.snapshots.entries).toBe(4)
  })
})

describe('per-repo state withholds #sync always and some commits (stale, inactive, desynchronized, covered): missing, they are withheld, not lost', () => {
  const expected = [relay.commit(1, ALICE), relay.sync(2, BOB), relay.commit(3, ALICE), relay.identity(4, BOB), relay.account(5, CAROL), relay.commit(6, CAROL)]

  it('a missing commit or #sync is withheld; the stream checks', async () => {
    const result = await check([expected[0]!, expected[3]!, expected[4]!, expected[5]!], expected)
    expect(result).toMatchObject({ expected: 6, delivered: 4, lost: [], withheld: { commits: [3], syncs: [2] }, ok: true })
  })

  it('a missing #identity or #account is still lost: per-repo state publishes them all', async () => {
    const result = await check([expected[0]!, expected[5]!], expected)
    expect(result).toMatchObject({ lost: [4, 5], withheld: { commits: [3], syncs: [2] }, ok: false })
  })

  it('without repoState each of them is lost', async () => {
    const result = await check([expected[0]!, expected[5]!], expected, false)
    expect(result).toMatchObject({ lost: [2, 3, 4, 5], withheld: { commits: [], syncs: [] }, ok: false })
  })
})

describe('a commit held while its repo resyncs is published after the snapshot, after later seqs: late, in order if no later commit of its repo came first', () => {
  const expected = [relay.commit(1, ALICE), relay.commit(2, BOB), relay.commit(3, ALICE), relay.commit(4, BOB), relay.identity(5, CAROL)]

  it('after later seqs of other repos: late, not out of order', async () => {
    const result = await check([expected[0]!, expected[1]!, expected[3]!, expected[4]!, expected[2]!], expected)
    expect(result).toMatchObject({ late: [3], outOfOrder: [], ok: true })
  })

  it('after a later commit of its own repo: out of order', async () => {
    const result = await check([expected[2]!, expected[0]!, expected[1]!, expected[3]!, expected[4]!], expected)
    expect(result).toMatchObject({ late: [2], outOfOrder: [1], ok: false })
  })

  it('held commits of one repo are released in arrival order: each late, none out of order', async () => {
    const more = [relay.commit(1, ALICE), relay.commit(2, BOB), relay.commit(3, ALICE), relay.commit(4, ALICE), relay.commit(5, BOB)]
    const result = await check([more[0]!, more[1]!, more[4]!, more[2]!, more[3]!], more)
    expect(result).toMatchObject({ late: [3, 4], outOfOrder: [], ok: true })
  })

  it('an #identity or #account is never held: after later seqs it is out of order', async () => {
    const withIdentity = [relay.commit(1, ALICE), relay.identity(2, CAROL), relay.commit(3, ALICE)]
    const result = await check([withIdentity[0]!, withIdentity[2]!, withIdentity[1]!], withIdentity)
    expect(result).toMatchObject({ late: [], outOfOrder: [2], ok: false })
  })

  it('without repoState a late commit is out of order', async () => {
    const result = await check([expected[0]!, expected[1]!, expected[3]!, expected[4]!, expected[2]!], expected, false)
    expect(result).toMatchObject({ late: [], outOfOrder: [3], ok: false })
  })
})

describe('a relay seq written twice is a duplicate with repoState too: no rule of per-repo state publishes an event twice', () => {
  it('fails', async () => {
    const expected = [relay.commit(1, ALICE), relay.commit(2, BOB)]
    const result = await check([expected[0]!, expected[1]!, expected[1]!], expected)
    expect(result).toMatchObject({ duplicated: [2], ok: false })
  })
})

describe('a snapshot has one begin, parts 0..k-1 in order each exactly once, and an end that counts them: a worker deletes what the snapshot lacks', () => {
  const pieces = snapshot(ALICE, 'alice-1', 7, [2, 2, 1])
  const [p0, p1, p2] = pieces.parts as [StreamEntry, StreamEntry, StreamEntry]

  it('a part written twice', async () => {
    expect(await brokenRules([pieces.begin, p0, p1, p1, p2, pieces.end])).toEqual(['part-repeated', 'end-counts'])
  })

  it('a part skipped (or written before an earlier one)', async () => {
    expect(await brokenRules([pieces.begin, p0, p2, pieces.end])).toEqual(['part-skipped', 'end-counts'])
    expect(await brokenRules([pieces.begin, p0, p2, p1, pieces.end])).toEqual(['part-skipped', 'part-repeated'])
  })

  it('an end whose counts differ from the parts written', async () => {
    const result = await check([pieces.begin, p0, p1, p2, endSaying(pieces, { parts: 3, records: 4, complete: true })], [])
    expect(result.snapshots.violations.first).toEqual([{ rule: 'end-counts', id: 'alice-1', did: ALICE, seq: 7, detail: 'end of snapshot alice-1 says 3 parts, 4 records; 3 parts with 5 records were written' }])
    expect(result.ok).toBe(false)
  })
})

describe('a snapshot ended complete: false was abandoned (its writer died mid-snapshot): its end promises nothing about its parts', () => {
  it('skipped or repeated parts and other counts are not violations', async () => {
    const pieces = snapshot(ALICE, 'alice-2', 7, [2, 2, 1])
    const [p0, , p2] = pieces.parts as [StreamEntry, StreamEntry, StreamEntry]
    const result = await check([pieces.begin, p0, p2, p2, endSaying(pieces, { parts: 1, records: 2, complete: false })], [])
    expect(result.snapshots).toMatchObject({ begun: 1, complete: 0, abandoned: 1, open: 0, parts: 3, records: 4, violations: { count: 0 } })
    expect(result.ok).toBe(true)
  })
})

describe('every part and end follows its begin, names the same repo, and nothing follows the end: else a worker applies records to no snapshot or the wrong repo', () => {
  const pieces = snapshot(ALICE, 'alice-4', 9, [1])
  const other = snapshot(BOB, 'alice-4', 9, [1])

  it('a part or end without begin', async () => {
    expect(await brokenRules([pieces.parts[0]!, pieces.end])).toEqual(['part-without-begin', 'end-without-begin'])
  })

  it('a begin twice, a part or end after the end', async () => {
    expect(await brokenRules([pieces.begin, pieces.begin, pieces.parts[0]!, pieces.end, pieces.parts[0]!, pieces.end, pieces.begin])).toEqual(['begun-twice', 'after-end', 'after-end', 'begun-twice'])
  })

  it('a part or end of another repo', async () => {
    expect(await brokenRules([pieces.begin, other.parts[0]!, other.end])).toEqual(['other-repo', 'other-repo'])
  })

  it('a snapshot entry whose data does not read', async () => {
    const result = await check([{ type: 'snapshot', seq: 9, data: '{"phase":"middle"}' }], [])
    expect(result.snapshots.violations.first).toEqual([{ rule: 'malformed', id: null, did: null, seq: 9, detail: 'snapshot data has no valid `phase` (begin or end)' }])
  })
})

describe('a snapshot begun and never ended fails the check: the stream is not finished (an ingestor stopped mid-snapshot ends it complete: false when it starts again)', () => {
  it('is counted open, with its id', async () => {
    const pieces = snapshot(CAROL, 'carol-2', 4, [1, 1])
    const result = await check([pieces.begin, ...pieces.parts], [])
    expect(result.snapshots).toMatchObject({ begun: 1, open: 1, openIds: ['carol-2'], violations: { count: 0 } })
    expect(result.ok).toBe(false)
  })
})

describe('repos whose stored state is desynchronized or resyncing have commits still withheld: counted from <stream>:repos, not a failure', () => {
  it('counts them', async () => {
    const stream = await writeStream([relay.commit(1, ALICE)])
    await own.admin.hset(`${stream}:repos`, ALICE, state('synchronized'), BOB, state('desynchronized'), CAROL, state('resyncing'))
    const result = await checkStream({ redisUrl: own.redis.url, stream, expected: [relay.commit(1, ALICE)], repoState: true })
    expect(result).toMatchObject({ awaitingResync: 2, ok: true })
    expect((await checkStream({ redisUrl: own.redis.url, stream, expected: [relay.commit(1, ALICE)] })).awaitingResync).toBe(0)
  })
})

describe("with shards, each shard stream holds its repos' snapshots and its repo states sit in the hash beside it (<stream>:repos:{<stream>:<i>})", () => {
  it('checks each shard on its own', async () => {
    const SHARDS = 2
    const base = `repo-state-shards:${process.pid}`
    const expected = [relay.commit(1, ALICE), relay.commit(2, BOB), relay.commit(3, CAROL), relay.commit(4, ALICE)]
    const shardOf = (did: string): number => shardOfDid(did, SHARDS)
    const alice = snapshot(ALICE, 'alice-shard', 3, [1])
    for (let shard = 0; shard < SHARDS; shard++) {
      const entries = expected.filter((entry) => shardOf((JSON.parse(entry.data) as { repo: string }).repo) === shard)
      const written = shard === shardOf(ALICE) ? [...entries.slice(0, 1), alice.begin, ...alice.parts, alice.end, ...entries.slice(1)] : entries
      const pipeline = own.admin.pipeline()
      for (const entry of written) pipeline.xadd(`${base}:${shard}`, '*', ...entryFields(entry))
      await pipeline.exec()
    }
    await own.admin.hset(`${base}:repos:{${base}:${shardOf(BOB)}}`, BOB, state('desynchronized'))
    const result = await checkShards({ redis: [own.redis.url], cluster: false, stream: base, shards: SHARDS, expected, repoState: true })
    expect(result.ok).toBe(true)
    expect(result.shards.map(({ result: shard }) => [shard.snapshots.complete, shard.awaitingResync])).toEqual(
      Array.from({ length: SHARDS }, (_, shard) => [shard === shardOf(ALICE) ? 1 : 0, shard === shardOf(BOB) ? 1 : 0]),
    )
  })
})

import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { pollUntil } from '../../common/wait.js'
import { BackfillFeed, type HashPage } from '../../ingestor/backfill-feed.js'
import { FakeTimers } from '../support/fake-timers.js'

/** Two shards' hashes as HSCAN pages of 2 fields, and what the feed asked for. */
function rig(markers: [string, string][][], inactive: [string, string][][], active: ReadonlySet<string>, counters: (string | null)[][] = [[], []]) {
  const requested: string[] = []
  const activated: string[] = []
  const pages =
    (hashes: [string, string][][]) =>
    async (shard: number, cursor: string): Promise<HashPage> => {
      const at = Number(cursor)
      const fields = hashes[shard]!.slice(at, at + 2)
      return { next: at + 2 >= hashes[shard]!.length ? '0' : String(at + 2), fields }
    }
  const timers = new FakeTimers()
  const feed = new BackfillFeed({
    queue: { request: (did) => (requested.push(did), true), whenRoom: async () => undefined },
    isResyncing: (did) => did === 'did:plc:busy',
    markers: pages(markers),
    inactive: pages(inactive),
    activeNow: async (_shard, dids) => dids.map((did) => active.has(did)),
    activate: async (shard, dids) => {
      activated.push(...dids)
      inactive[shard] = inactive[shard]!.filter(([did]) => !dids.includes(did))
      return [...dids]
    },
    readCounts: async (shard) => counters[shard]!,
    shards: 2,
    timers,
    pollMs: 1_000,
    inactivePollMs: 60_000,
    logger: silentLogger,
  })
  return { feed, requested, activated, timers }
}

const failure = JSON.stringify({ code: 'REPO_SYNC_NOT_FOUND', message: 'gone', attempts: 1, atMs: 0 })

describe('the feed asks the resync queue for every queued marker of every shard, page by page (a failing one waits for its retry, one being resynced is not asked twice)', () => {
  it('queued markers of both shards; not the failing one, not the one in flight, not a counter', async () => {
    const { feed, requested } = rig(
      [
        [
          ['did:plc:a#backfill', 'queued'],
          ['did:plc:b#backfill', failure],
          ['did:plc:c#backfill', 'queued'],
        ],
        [
          ['did:plc:busy#backfill', 'queued'],
          ['did:plc:d#backfill', 'queued'],
        ],
      ],
      [[], []],
      new Set(),
    )
    feed.start()
    expect(await pollUntil(() => requested.length === 3, { timeoutMs: 2_000, intervalMs: 2 })).toBe(true)
    await feed.stop()
    expect(requested).toEqual(['did:plc:a', 'did:plc:c', 'did:plc:d'])
  })

  it('passes again after pollMs (a marker a crash left behind is asked for by the next pass)', async () => {
    const { feed, requested, timers } = rig([[['did:plc:a#backfill', 'queued']], []], [[], []], new Set())
    feed.start()
    expect(await pollUntil(() => requested.length === 1 && timers.pendingCount === 1, { timeoutMs: 2_000, intervalMs: 2 })).toBe(true)
    timers.advance(1_000)
    expect(await pollUntil(() => requested.length === 2, { timeoutMs: 2_000, intervalMs: 2 })).toBe(true)
    await feed.stop()
  })
})

describe('repos listed as inactive are asked for once their stored state says active again, checked every inactivePollMs (not every pass: the inactive hash can be large)', () => {
  it('the active one is moved to a queued marker and asked for; the others wait; no second check before inactivePollMs', async () => {
    const inactive: [string, string][][] = [
      [
        ['did:plc:x', 'deactivated'],
        ['did:plc:y', 'takendown'],
      ],
      [['did:plc:z', 'deactivated']],
    ]
    const active = new Set(['did:plc:x'])
    const { feed, requested, activated, timers } = rig([[], []], inactive, active)
    feed.start()
    expect(await pollUntil(() => requested.length === 1, { timeoutMs: 2_000, intervalMs: 2 })).toBe(true)
    expect(activated).toEqual(['did:plc:x'])
    active.add('did:plc:z')
    timers.advance(1_000) // a markers pass, not yet an inactive one
    expect(await pollUntil(() => timers.pendingCount === 1, { timeoutMs: 2_000, intervalMs: 2 })).toBe(true)
    expect(requested).toEqual(['did:plc:x'])
    for (let ms = 0; ms < 60_000; ms += 1_000) {
      timers.advance(1_000)
      await pollUntil(() => timers.pendingCount === 1, { timeoutMs: 2_000, intervalMs: 1 })
    }
    expect(await pollUntil(() => requested.length === 2, { timeoutMs: 2_000, intervalMs: 2 })).toBe(true)
    expect(requested).toEqual(['did:plc:x', 'did:plc:z'])
    await feed.stop()
  })
})

describe("each pass reads the backfill's counters of every shard, summed (the status line's repos.backfill and /metrics firehose_backfill_repos)", () => {
  it('two shards summed; none while nothing was listed', async () => {
    const counters: (string | null)[][] = [[], []]
    const { feed, timers } = rig([[], []], [[], []], new Set(), counters)
    feed.start()
    expect(await pollUntil(() => timers.pendingCount === 1, { timeoutMs: 2_000, intervalMs: 2 })).toBe(true)
    expect(feed.counts).toBeNull()
    counters[0] = ['10', '2', '5', '1', null, '700']
    counters[1] = ['4', null, '4', null, null, '300']
    timers.advance(1_000)
    expect(await pollUntil(() => feed.counts !== null, { timeoutMs: 2_000, intervalMs: 2 })).toBe(true)
    await feed.stop()
    expect(feed.counts).toEqual({ listed: 14, inactive: 2, done: 9, failing: 1, reactivated: 0, records: 1_000 })
  })
})

import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { DEFAULT_GROUP } from '../../common/contract.js'
import { keyLayout } from '../../common/key-layout.js'
import { BackfillStore } from '../../backfill/backfill-store.js'
import { inactiveWaiting } from '../../backfill/run-backfill.js'
import { waitUntil } from '../../harness/wait.js'
import { decodeEvent } from '../../protocol/events.js'
import { activeOnly, groundTruth, inactiveAtEnd } from '../../stream-check/ground-truth.js'
import { diffRepos, ModelAppView } from '../../stream-check/model-appview.js'
import { generatedForSuite } from '../generator/helpers.js'
import { ownRedisForSuite, replay } from '../ingestor/helpers.js'
import { startRepoStateIngestor } from '../ingestor/repo-state-rig.js'
import { backfillRun } from './backfill-rig.js'

/**
 * Backfill under Redis backpressure (docs/backfill.md, "Bounded and polite"): with `--max-len` and
 * safe trimming, a stream whose consumer group reads nothing fills up and every write waits,
 * snapshots included, so the backfill pauses; once the group reads, it goes on, and no entry was
 * trimmed before the group read it: the model AppView fed by the group's reads alone (entries are
 * trimmed after their ack) equals the ground truth.
 */
const SEED = 2019
const MAX_LEN = 40
const own = ownRedisForSuite()
const fixture = generatedForSuite('backpressure.fixture.gz', { events: 800, accounts: 150, medianRecords: 4, seed: SEED, workers: 0, fromCreation: true })

/** The group's reader: every entry read is applied to the model, then acknowledged; reads block (XREADGROUP BLOCK), never sleep. */
class GroupReader {
  readonly model = new ModelAppView()
  read = 0
  private running = true
  private loop: Promise<void> | null = null

  constructor(
    private readonly redis: Redis,
    private readonly stream: string,
  ) {}

  start(): void {
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.running = false
    await this.loop
  }

  private async run(): Promise<void> {
    while (this.running) {
      const reply = (await this.redis.xreadgroup('GROUP', DEFAULT_GROUP, 'reader', 'COUNT', 100, 'BLOCK', 100, 'STREAMS', this.stream, '>')) as [string, [string, string[]][]][] | null
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        this.model.applyFields(fields)
        this.read++
        await this.redis.xack(this.stream, DEFAULT_GROUP, id)
      }
    }
  }
}

/** XINFO STREAM's entries-added: every entry the stream ever had, trimmed ones included. */
async function entriesAdded(stream: string): Promise<number> {
  const info = (await own.admin.xinfo('STREAM', stream)) as unknown[]
  return Number(info[info.indexOf('entries-added') + 1])
}

describe('a full stream (--max-len, safe trim) pauses the backfill; once the group reads, it goes on, and nothing was trimmed unread', () => {
  it(`seed ${SEED}`, async () => {
    const frames = fixture.frames
    const inactive = inactiveAtEnd(frames)
    const last = decodeEvent(frames[frames.length - 1]!) as { seq: number }
    const relay = await replay([fixture.generated.path], { start: 'now', seed: SEED, rate: { mode: 'rate', eventsPerSec: 2_000 } })
    let run: Awaited<ReturnType<typeof startRepoStateIngestor>> | null = null
    let groupReader: GroupReader | null = null
    try {
      const half = Math.floor(frames.length / 2)
      await waitUntil(() => relay.status().framesPublished >= half, { what: 'half the frames published', timeoutMs: 30_000 })
      relay.setRate({ mode: 'rate', eventsPerSec: 200 })
      // Joining after the first half by cursor: on a loaded machine the relay may have published everything before this line runs.
      const joinCursor = (decodeEvent(frames[half - 1]!) as { seq: number }).seq
      run = await startRepoStateIngestor(own.redis.url, relay, { startCursor: joinCursor, maxLen: MAX_LEN, trim: 'safe', backfillPollMs: { markers: 50, inactive: 200 } })
      const ingestor = run.handle
      groupReader = new GroupReader(own.admin.duplicate(), run.keys.stream)
      const listing = backfillRun(own.admin, run.keys.stream, { kind: 'all' }, new URL(relay.httpUrl))
      await waitUntil(() => ingestor.status().streamFull, { what: 'the stream full: writes (and with them the backfill) wait', timeoutMs: 30_000 })
      // Safe trimming holds at most max length + one write's entries.
      expect(await own.admin.xlen(run.keys.stream)).toBeLessThanOrEqual(MAX_LEN + 600)
      groupReader.start()
      const final = await listing
      expect(final.done + final.failing + inactiveWaiting(final)).toBe(final.listed)
      relay.setRate({ mode: 'max' })
      await waitUntil(() => (ingestor.status().storedCursor ?? -1) >= last.seq, { what: `cursor ${last.seq}`, timeoutMs: 60_000 })
      // A repo listed as inactive whose account is active again is fetched after the listing's end.
      const store = new BackfillStore(own.admin, keyLayout(1, false), run.keys.stream)
      await waitUntil(
        async () => {
          const [counts, failing, waiting] = [await store.counts(), await store.failing(1_000), await store.inactive(1_000)]
          return counts.done + counts.failing + inactiveWaiting(counts) === counts.listed && [...failing.repos, ...waiting.repos].every((repo) => inactive.has(repo.did))
        },
        { what: 'every listed repo of an active account done', timeoutMs: 60_000 },
      )
      const [reading, stream] = [groupReader, run.keys.stream]
      await waitUntil(async () => reading.read === (await entriesAdded(stream)), { what: 'the group has read every entry ever added', timeoutMs: 30_000 })
    } finally {
      await groupReader?.stop()
      await run?.handle.stop()
      await relay.close()
    }
    expect(diffRepos(activeOnly(groupReader.model.repos(), inactive), activeOnly(groundTruth(frames), inactive)), `seed ${SEED}`).toEqual([])
  }, 120_000)
})

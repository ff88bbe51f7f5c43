import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../common/logger.js'
import { pollUntil } from '../../common/wait.js'
import { CrashPoints } from '../../ingestor/crash-points.js'
import type { RepoWrite, RepoWriteContext, RepoWriter } from '../../ingestor/repo-write.js'
import { ResyncQueue, DEFAULT_RESYNC_QUEUE } from '../../ingestor/resync-queue.js'
import { ResyncWorker } from '../../ingestor/resync-worker.js'
import { emptyCounters } from '../../ingestor/status.js'
import { RepoSyncError, RepoSyncErrorCode } from '../../repo-sync/errors.js'
import type { RepoState } from '../../repo-sync/types.js'
import { FakeTimers } from '../support/fake-timers.js'

/** A writer that applies each repo write to a map of states, as the pipeline would to Redis. */
class StatesWriter implements RepoWriter {
  constructor(readonly states: Map<string, RepoState>) {}

  async writeRepo(did: string, build: (context: RepoWriteContext) => RepoWrite | null): Promise<'applied' | 'skipped'> {
    const state = this.states.get(did) ?? null
    const write = build({ repo: { raw: null, state }, progress: null, seq: 0, fields: new Map() })
    if (write === null) return 'skipped'
    if (write.state !== undefined) this.states.set(did, write.state)
    return 'applied'
  }
}

describe('repos whose fetch failed wait out their backoff with a timer each, bounded: past the bound they are found by one sweep instead (their state says desynchronized)', () => {
  it('4 failing repos, at most 2 timers for repos: 2 repo timers and 1 sweep timer', async () => {
    const dids = ['did:plc:a', 'did:plc:b', 'did:plc:c', 'did:plc:d']
    const states = new Map(dids.map((did): [string, RepoState] => [did, { rev: '', data: '', status: 'active', sync: 'desynchronized' }]))
    const timers = new FakeTimers()
    const counters = emptyCounters()
    const queue = new ResyncQueue(DEFAULT_RESYNC_QUEUE)
    const worker = new ResyncWorker({
      queue,
      writer: new StatesWriter(states),
      fetcher: { fetchRepo: async (did) => Promise.reject(new RepoSyncError(RepoSyncErrorCode.Unreachable, `${did}: connection refused`, { did })) },
      retryAtMs: () => null,
      sweep: async () => undefined,
      fetchOptions: {},
      concurrency: 1,
      maxScheduledRetries: 2,
      counters,
      logger: silentLogger,
      timers,
      crash: new CrashPoints(null),
    })
    worker.start()
    for (const did of dids) queue.request(did)
    expect(await pollUntil(() => counters.resyncsFailed === 4, { timeoutMs: 5_000, intervalMs: 5 })).toBe(true)
    expect(worker.retriesScheduled).toBe(3)
    expect(timers.pendingCount).toBe(3)
    // Each repo went back to desynchronized, for a sweep (or its timer) to find.
    expect([...states.values()].every((state) => state.sync === 'desynchronized')).toBe(true)
    await worker.stop()
    expect(timers.pendingCount).toBe(0)
  })
})

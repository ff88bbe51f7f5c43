import { shardOfDid } from '../protocol/shard.js'
import type { StreamEntry } from '../protocol/stream-entry.js'
import { encodeRepoState } from '../repo-sync/repo-state-codec.js'
import { onEvent } from '../repo-sync/rules.js'
import type { ChainFacts, DesyncCause, RepoState } from '../repo-sync/types.js'
import type { HashUpdate } from './redis-sink.js'
import type { RepoFacts } from './repo-facts.js'

/** A DID's state as Redis holds it (`raw`, null = no field) and as it reads (null: none, or a value that does not decode). */
export interface BelievedRepo {
  raw: Buffer | null
  state: RepoState | null
}

/** An event kept aside while its repo resyncs (resync-manager.ts decides it after the snapshot). */
export interface HeldEvent {
  did: string
  facts: ChainFacts
  /** Its entry; null when the filter (--collections, --events) publishes nothing of it. */
  entry: StreamEntry | null
  seq: number
}

/** What a write's per-repo rules found, for the counters, the logs and the resync manager. */
export interface RepoOutcome {
  /** Verdicts by kind (docs/repo-sync.md "What the write path does with each verdict"). */
  verdicts: Map<string, number>
  /** Commits that broke their repo's chain: logged once per repo with both values. */
  desyncs: { did: string; cause: DesyncCause; expected: string; got: string; seq: number }[]
  /** Repos that need a resync (a desync or a #sync to new data or without a chain). */
  resyncs: Set<string>
  held: HeldEvent[]
  /** The state of every DID this write changes, to believe once it is applied. */
  changed: Map<string, BelievedRepo>
}

/** How the write plan acts on one event's verdict. */
export type RepoAction = { kind: 'publish' } | { kind: 'drop' } | { kind: 'dead-letter'; code: string; message: string }

/** Dead-letter codes of events the rules refuse outright (docs/repo-sync.md, checks 1 and 2). */
export const RepoDeadLetterCode = {
  InvalidRev: 'REPO_STATE_INVALID_REV',
  FutureRev: 'REPO_STATE_FUTURE_REV',
} as const

/**
 * The per-repo rules (repo-sync/rules.ts) applied to one write's events in order, on the states
 * believed before it (`believed`: every DID of the write, read beforehand). Pure: the write plan
 * calls `decide` for each event, then takes the hash updates of each shard; a DID's later events
 * in the same write see its earlier events' state.
 */
export class RepoPlan {
  readonly outcome: RepoOutcome = { verdicts: new Map(), desyncs: [], resyncs: new Set(), held: [], changed: new Map() }
  private readonly current = new Map<string, RepoState | null>()

  constructor(
    private readonly believed: ReadonlyMap<string, BelievedRepo>,
    private readonly nowMs: number,
    private readonly shards: number,
  ) {}

  decide(facts: RepoFacts, seq: number, entry: StreamEntry | null): RepoAction {
    const { did } = facts
    const before = this.current.has(did) ? this.current.get(did)! : (this.believed.get(did)?.state ?? null)
    const { verdict, state } = onEvent(before, facts, this.nowMs)
    this.current.set(did, state)
    const { outcome } = this
    outcome.verdicts.set(verdict.kind, (outcome.verdicts.get(verdict.kind) ?? 0) + 1)
    switch (verdict.kind) {
      case 'publish':
        // An account active again whose repo still waits for a resync (its fetch was refused while
        // it was deactivated or taken down): ask now rather than after the fetch backoff.
        if (facts.type === 'account' && state !== null && state.sync === 'desynchronized' && state.status === 'active' && before?.status !== 'active') outcome.resyncs.add(did)
        return { kind: 'publish' }
      case 'invalid-rev':
        return { kind: 'dead-letter', code: RepoDeadLetterCode.InvalidRev, message: `${facts.type} of ${did}: rev is not a TID` }
      case 'future':
        return { kind: 'dead-letter', code: RepoDeadLetterCode.FutureRev, message: `${facts.type} of ${did}: rev dated ${new Date(verdict.revTimeMs).toISOString()}, more than 5 minutes ahead` }
      case 'desync':
        outcome.desyncs.push({ did, cause: verdict.cause, expected: verdict.expected, got: verdict.got, seq })
        outcome.resyncs.add(did)
        return { kind: 'drop' }
      case 'resync':
        outcome.resyncs.add(did)
        return { kind: 'drop' }
      case 'hold':
        outcome.held.push({ did, facts: facts as RepoFacts & ChainFacts, entry, seq })
        return { kind: 'drop' }
      default:
        return { kind: 'drop' }
    }
  }

  /** The hash updates of each shard (index = shard): every DID whose state this write changed, compare-and-set against what was believed. */
  updatesByShard(): HashUpdate[][] {
    const updates: HashUpdate[][] = Array.from({ length: this.shards }, () => [])
    for (const [did, state] of this.current) {
      const believed = this.believed.get(did) ?? { raw: null, state: null }
      if (state === null || state === believed.state) continue
      const next = encodeRepoState(state)
      if (believed.raw !== null && next.equals(believed.raw)) continue
      this.outcome.changed.set(did, { raw: next, state })
      updates[shardOfDid(did, this.shards)]!.push({ hash: 'repos', field: did, expected: believed.raw ?? '', next })
    }
    return updates
  }
}

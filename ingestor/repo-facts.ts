import type { SequencedEvent } from '../protocol/events.js'
import type { RepoEventFacts } from '../repo-sync/types.js'

/** What the per-repo rules (repo-sync/rules.ts) read of one event, and whose repo it is. Small: it crosses the decode worker's boundary. */
export type RepoFacts = { did: string } & RepoEventFacts

/**
 * The rules' view of a decoded event. A commit or #sync whose commit block names no MST root
 * (`data` null: the block is missing from its CAR) gets `''`: the root then matches no later
 * `prevData`, so the repo is resynced rather than trusted.
 */
export function repoFactsOf(event: SequencedEvent): RepoFacts {
  switch (event.type) {
    case 'commit':
      return { did: event.repo, type: 'commit', rev: event.rev, since: event.since, prevData: event.prevData, data: event.data ?? '' }
    case 'sync':
      return { did: event.did, type: 'sync', rev: event.rev, data: event.data ?? '' }
    case 'account':
      return { did: event.did, type: 'account', active: event.active, status: event.status }
    case 'identity':
      return { did: event.did, type: 'identity' }
  }
}

import type { RecordWrite } from './account-repo.js'

/** What the planner is asked for and what it hands out (planner.ts). */

export interface PlanOptions {
  seed: number
  events: number
  accounts: number
  startTimeMs: number
  firstSeq: number
  eventsPerSecond: number
  /** Median number of records an account's repo holds before the fixture starts (drives MST depth, hence frame size). */
  medianRecords: number
  /** Start with one #info OutdatedCursor frame (as a PDS sends to a too-old cursor). */
  infoFrame: boolean
  /** Every repo starts in the fixture: an existing account's first event follows a commit creating its whole repo. */
  fromCreation: boolean
  /** Power-law exponent of who acts: the i-th most active account writes in proportion to 1 / i^exponent. */
  activityExponent: number
}

interface EventBase {
  index: number
  /** Sequencing time at the relay (the body's `time`), µs since the epoch. */
  timeUs: number
  /** When a consumer received the frame, µs; strictly increasing. */
  receivedUs: number
  /** Account index; -1 for #info. */
  account: number
}
export type PlannedEvent =
  | (EventBase & { type: 'commit'; seq: number; rev: string; writes: RecordWrite[]; first: boolean })
  | (EventBase & { type: 'identity'; seq: number; handle: string })
  | (EventBase & { type: 'account'; seq: number; active: boolean; status?: 'deactivated' | 'deleted' })
  | (EventBase & { type: 'sync'; seq: number; rev: string })
  | (EventBase & { type: 'info'; name: string; message: string })

/**
 * An event decided but not yet given its seq, time and rev (several are decided together: account creation, threads).
 * A `first` commit creates the repo holding `writes` (all creates): empty at sign-up, the whole pre-existing repo with fromCreation.
 */
export type Draft =
  | { type: 'commit'; account: number; writes: RecordWrite[]; first?: boolean }
  | { type: 'identity'; account: number; handle: string }
  | { type: 'account'; account: number; active: boolean; status?: 'deactivated' | 'deleted' }
  | { type: 'sync'; account: number }

import { encodeFrame } from '../protocol/frame.js'
import type { CommitResult } from './account-repo.js'
import type { PlannedEvent } from './plan-types.js'

/** Frame bodies exactly as @atproto/pds sequences them (formatSeqCommit & co.) and a relay forwards them. */

type Planned<T extends PlannedEvent['type']> = Extract<PlannedEvent, { type: T }>

function isoTime(timeUs: number): string {
  return new Date(Math.floor(timeUs / 1000)).toISOString()
}

export function commitFrame(event: Pick<Planned<'commit'>, 'seq' | 'timeUs'>, did: string, commit: CommitResult): Uint8Array {
  const body: Record<string, unknown> = {
    seq: event.seq,
    rebase: false,
    tooBig: false,
    repo: did,
    commit: commit.cid,
    rev: commit.rev,
    since: commit.since,
    blocks: commit.car,
    ops: commit.ops.map((op) => (op.prev ? { action: op.action, path: op.path, cid: op.cid, prev: op.prev } : { action: op.action, path: op.path, cid: op.cid })),
    blobs: [],
    time: isoTime(event.timeUs),
  }
  // The PDS drops undefined fields: a repo's first commit has no prevData at all.
  if (commit.prevData) body.prevData = commit.prevData
  return encodeFrame({ op: 1, t: '#commit' }, body)
}

export function syncFrame(event: Planned<'sync'>, did: string, car: Uint8Array): Uint8Array {
  return encodeFrame({ op: 1, t: '#sync' }, { seq: event.seq, did, blocks: car, rev: event.rev, time: isoTime(event.timeUs) })
}

export function identityFrame(event: Planned<'identity'>, did: string): Uint8Array {
  return encodeFrame({ op: 1, t: '#identity' }, { seq: event.seq, did, time: isoTime(event.timeUs), handle: event.handle })
}

export function accountFrame(event: Planned<'account'>, did: string): Uint8Array {
  const body: Record<string, unknown> = { seq: event.seq, did, time: isoTime(event.timeUs), active: event.active }
  if (event.status) body.status = event.status
  return encodeFrame({ op: 1, t: '#account' }, body)
}

export function infoFrame(event: Planned<'info'>): Uint8Array {
  return encodeFrame({ op: 1, t: '#info' }, { name: event.name, message: event.message })
}

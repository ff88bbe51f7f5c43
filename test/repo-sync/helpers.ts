import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { tidFromTime } from '../../generator/tid.js'
import { cidToString } from '../../protocol/data-model.js'
import { decodeEvent, type SequencedEvent } from '../../protocol/events.js'
import { isSequenced } from '../../protocol/stream-entry.js'
import type { RepoEventFacts } from '../../repo-sync/types.js'

export interface DecodedForRules {
  event: SequencedEvent
  facts: RepoEventFacts
}

/**
 * Decodes a wire frame (protocol/events.ts) into the event and the facts the rules read from it.
 */
export function decodeForRules(bytes: Uint8Array): DecodedForRules {
  const event = decodeEvent(bytes)
  if (!isSequenced(event)) throw new Error(`frame of type ${event.type} is not one the rules decide`)
  switch (event.type) {
    case 'commit':
      return { event, facts: { type: 'commit', rev: event.rev, since: event.since, prevData: event.prevData, data: dataOf(event) } }
    case 'sync':
      return { event, facts: { type: 'sync', rev: event.rev, data: dataOf(event) } }
    case 'account':
      return { event, facts: { type: 'account', active: event.active, status: event.status } }
    case 'identity':
      return { event, facts: { type: 'identity' } }
  }
}

/** The decoder's `data` (protocol/events.ts); the rules need it, so a frame without a commit block is a broken test input. */
function dataOf(event: { data: string | null; commit: string }): string {
  if (event.data === null) throw new Error(`commit block ${event.commit} is not in the frame's CAR`)
  return event.data
}

/** The DID an event is about. */
export function didOf(event: SequencedEvent): string {
  return event.type === 'commit' ? event.repo : event.did
}

/** A CIDv1 dag-cbor sha2-256 (the form of every MST root) of `label`: distinct labels, distinct CIDs. */
export function cidOf(label: string): string {
  return cidToString(CID.createV1(0x71, Digest.create(0x12, createHash('sha256').update(label).digest())))
}

/** The TID of `timeMs` (milliseconds since the epoch) with clock id `clockId`. */
export function tidAt(timeMs: number, clockId = 0): string {
  return tidFromTime(timeMs * 1000, clockId)
}

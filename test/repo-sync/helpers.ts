import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { tidFromTime } from '../../generator/tid.js'
import { readCar } from '../../protocol/car.js'
import { cidToString } from '../../protocol/data-model.js'
import { decodeEvent, type SequencedEvent } from '../../protocol/events.js'
import { decodeCbor, decodeFrame, isPlainMap } from '../../protocol/frame.js'
import { isSequenced } from '../../protocol/stream-entry.js'
import type { RepoEventFacts } from '../../repo-sync/types.js'

export interface DecodedForRules {
  event: SequencedEvent
  facts: RepoEventFacts
}

/**
 * Decodes a wire frame (protocol/events.ts) and adds what the rules need beyond the decoded event:
 * the MST root (`data`) named by the signed commit block of a `#commit` or `#sync`, which the
 * decoder does not read.
 */
export function decodeForRules(bytes: Uint8Array): DecodedForRules {
  const event = decodeEvent(bytes)
  if (!isSequenced(event)) throw new Error(`frame of type ${event.type} is not one the rules decide`)
  switch (event.type) {
    case 'commit':
      return { event, facts: { type: 'commit', rev: event.rev, since: event.since, prevData: event.prevData, data: commitDataOf(bytes, event.commit) } }
    case 'sync':
      return { event, facts: { type: 'sync', rev: event.rev, data: commitDataOf(bytes, event.commit) } }
    case 'account':
      return { event, facts: { type: 'account', active: event.active, status: event.status } }
    case 'identity':
      return { event, facts: { type: 'identity' } }
  }
}

/** The `data` CID of the commit block `commitCid` in the frame's `blocks`. */
export function commitDataOf(bytes: Uint8Array, commitCid: string): string {
  const { body } = decodeFrame(bytes)
  if (!(body.blocks instanceof Uint8Array)) throw new Error('frame has no blocks')
  const block = readCar(body.blocks, 'all').get(CID.parse(commitCid))
  if (block === undefined) throw new Error(`commit block ${commitCid} is not in the frame's CAR`)
  const commit = decodeCbor(block, 'commit block')
  const data = isPlainMap(commit) ? CID.asCID(commit.data) : null
  if (data === null) throw new Error(`commit block ${commitCid} has no data link`)
  return cidToString(data)
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

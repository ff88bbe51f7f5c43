import type { Logger } from '../common/logger.js'
import type { FaultSpec, SyncFaultKind } from './faults.js'

/** Sync faults fired and not used up yet, at most; past it the oldest is dropped (logged). */
export const MAX_ARMED_SYNC_FAULTS = 10_000
/** Applied sync faults kept for status; older ones are forgotten. */
const MAX_RECORDS = 1_000

export type SyncFault = FaultSpec & { kind: SyncFaultKind }

/** One getRepo request a fault changed, for status. */
export interface SyncFaultRecord {
  kind: SyncFaultKind
  did: string
  /** Frames the timeline had published when the request came. */
  atFrame: number
  /** get-repo-corrupt: the CID whose block was altered. */
  cid?: string
}

/**
 * Which getRepo requests get a fault: each fault, once fired (fault-scheduler.ts), applies to the
 * next `count` requests for its `did` (any DID when it names none), oldest fault first. A request
 * first meets the faults that replace the answer (500, 429), consumed whatever the repo; the body
 * faults (slow, truncated, corrupt) are consumed only by a request that gets a CAR.
 */
export class SyncFaults {
  private armed: { spec: SyncFault; left: number }[] = []
  private records: SyncFaultRecord[] = []

  constructor(
    private readonly framesPublished: () => number,
    private readonly logger: Logger,
  ) {}

  arm(spec: SyncFault): void {
    this.armed.push({ spec, left: spec.count ?? 1 })
    if (this.armed.length > MAX_ARMED_SYNC_FAULTS) {
      const [dropped] = this.armed.splice(0, 1)
      this.logger.warn({ kind: dropped!.spec.kind, left: dropped!.left, max: MAX_ARMED_SYNC_FAULTS }, 'too many sync faults waiting for requests: the oldest is dropped')
    }
  }

  /** The fault of this kind group for a getRepo of `did`, used up by one; null when none applies. */
  take(did: string, stage: 'answer' | 'body'): SyncFault | null {
    const index = this.armed.findIndex(({ spec }) => STAGE[spec.kind] === stage && (spec.did === undefined || spec.did === did))
    if (index < 0) return null
    const entry = this.armed[index]!
    if (--entry.left === 0) this.armed.splice(index, 1)
    return entry.spec
  }

  record(kind: SyncFaultKind, did: string, cid?: string): void {
    this.records.push(cid === undefined ? { kind, did, atFrame: this.framesPublished() } : { kind, did, atFrame: this.framesPublished(), cid })
    if (this.records.length > MAX_RECORDS) this.records = this.records.slice(-MAX_RECORDS)
  }

  applied(): SyncFaultRecord[] {
    return [...this.records]
  }
}

const STAGE: Record<SyncFaultKind, 'answer' | 'body'> = {
  'get-repo-500': 'answer',
  'get-repo-429': 'answer',
  'get-repo-slow': 'body',
  'get-repo-truncate': 'body',
  'get-repo-corrupt': 'body',
}

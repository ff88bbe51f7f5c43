import { decodeEvent, type FirehoseEvent } from '../protocol/events.js'

/**
 * Who wrote a fixture's signed frames (#commit and #sync), per DID: the shape --activity-exponent
 * sets, and what per-key caches of a verifier see (a DID's first signed frame pays for its key).
 */
export interface ActivityStats {
  frames: number
  /** #commit and #sync frames. */
  signed: number
  /** Distinct DIDs among them. */
  dids: number
  /** DIDs with exactly one signed frame. */
  onceDids: number
  /** Signed frames of the most active DID. */
  max: number
  /** Share of signed frames written by the most active 1 % and 10 % of DIDs (at least one DID each). */
  top1: number
  top10: number
  /** Share of signed frames that are their DID's first (= dids / signed); the rest repeat a DID seen before. */
  firstShare: number
  /** Share of signed frames from DIDs seen once. */
  onceShare: number
}

/** The DID whose key signed the event (#commit, #sync); undefined for the others. */
export function signerOf(event: FirehoseEvent): string | undefined {
  return event.type === 'commit' ? event.repo : event.type === 'sync' ? event.did : undefined
}

export function activityStats(frames: readonly Uint8Array[]): ActivityStats {
  const counts = new Map<string, number>()
  for (const bytes of frames) {
    const did = signerOf(decodeEvent(bytes))
    if (did !== undefined) counts.set(did, (counts.get(did) ?? 0) + 1)
  }
  const sorted = [...counts.values()].sort((a, b) => b - a)
  const signed = sorted.reduce((sum, n) => sum + n, 0)
  const share = (part: number): number => (signed === 0 ? 0 : part / signed)
  const top = (fraction: number): number => share(sorted.slice(0, Math.max(1, Math.ceil(sorted.length * fraction))).reduce((sum, n) => sum + n, 0))
  const onceDids = sorted.filter((n) => n === 1).length
  return {
    frames: frames.length,
    signed,
    dids: sorted.length,
    onceDids,
    max: sorted[0] ?? 0,
    top1: top(0.01),
    top10: top(0.1),
    firstShare: share(sorted.length),
    onceShare: share(onceDids),
  }
}

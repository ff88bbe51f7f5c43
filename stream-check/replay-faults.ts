import type { ReplayStatus } from '../replay/index.js'

/**
 * Faults after which the relay never delivered an event intact, so a correct ingestor cannot
 * have it: `swallow` (never sent), `truncate` (sent cut short: undecodable, dead-lettered),
 * `regress` (sent with a seq below one already seen: skipped as backwards). Every other
 * fault (drop, close, stall, duplicate, garbage, ...) loses nothing: the ingestor must
 * reconnect from its cursor or skip the extra frames.
 */
const LOSING_FAULTS: ReadonlySet<string> = new Set(['swallow', 'truncate', 'regress'])

/** Seqs the replay server's status says were lost to faults, over every client connection. */
export function seqsLostToFaults(status: ReplayStatus): Set<number> {
  const lost = new Set<number>()
  for (const client of status.clients) {
    for (const fault of client.faults) {
      if (LOSING_FAULTS.has(fault.kind)) for (const seq of fault.seqs) lost.add(seq)
    }
  }
  return lost
}

import { parseFaultSpec, type FaultSpec } from './faults.js'
import { parseReplayRate } from './pacer.js'
import type { ReplayParts } from './parts.js'
import type { ReplaySettings } from './settings.js'
import type { ReplayHandle, ReplayRate, ReplayStatus } from './types.js'

/** What a running replay can be told, through its handle and its HTTP control endpoints. */
export type ReplayControls = Pick<ReplayHandle, 'status' | 'setRate' | 'pause' | 'resume' | 'injectFault'> & {
  /** All or nothing: a control request's faults are validated and counted against the pending bound first; returns how many. */
  injectFaults: (faults: readonly unknown[]) => number
}

export function replayControls({ window, hub, scheduler, timeline, repos, syncFaults, resets, getRepoLoad }: ReplayParts, { seed, maxClients }: Pick<ReplaySettings, 'seed' | 'maxClients'>): ReplayControls {
  const status = (): ReplayStatus => ({
    headSeq: window.headSeq,
    framesPublished: timeline.framesPublished,
    finished: timeline.finished,
    paused: timeline.paused,
    rate: timeline.rate,
    achievedEventsPerSec: Math.round(timeline.achievedPerSecond() * 10) / 10,
    clients: hub.clients(),
    seed,
    window: { oldestSeq: window.oldestSeq, frames: window.size, bytes: window.bytes },
    handshakesRefused: [...hub.handshakesRefused],
    maxClients,
    clientsRefused: hub.clientsRefused,
    repos: { indexed: repos.size, unexportable: repos.unexportable, ownBytes: repos.ownBytes },
    syncFaults: syncFaults.applied(),
    getRepo: getRepoLoad.status(),
    repoResets: resets.applied(),
  })
  const injectFaults = (faults: readonly unknown[]): number => {
    scheduler.addAll(faults.map(parseFaultSpec), timeline.framesPublished, true)
    return faults.length
  }
  return {
    status,
    setRate: (next: ReplayRate) => timeline.setRate(parseReplayRate(next)),
    pause: () => timeline.pause(),
    resume: () => timeline.resume(),
    injectFault: (fault: FaultSpec): void => void injectFaults([fault]),
    injectFaults,
  }
}

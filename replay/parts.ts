import { SeededRandom } from '../common/random.js'
import { FaultScheduler } from './fault-scheduler.js'
import { isRepoReset, isSyncFault, type FaultSpec } from './faults.js'
import { ReplayHub } from './hub.js'
import { Pacer } from './pacer.js'
import { RepoBook } from './repo-book.js'
import { RepoResets } from './repo-resets.js'
import { RequestGauge } from './request-gauge.js'
import { WINDOW_MAX_BYTES, type ReplaySettings } from './settings.js'
import { openSource, type LoadedFixtures } from './source.js'
import { SyncFaults } from './sync-faults.js'
import { Timeline } from './timeline.js'
import { RetainedWindow } from './window.js'

/**
 * What a replay is made of, before any socket: the retained window, the subscribers' hub, the
 * fault scheduler, the timeline, and the repos it has published with the faults of their sync endpoints.
 */
export interface ReplayParts {
  window: RetainedWindow
  hub: ReplayHub
  scheduler: FaultScheduler
  timeline: Timeline
  repos: RepoBook
  syncFaults: SyncFaults
  resets: RepoResets
  /** getRepo requests in flight (sync-endpoints.ts counts them). */
  getRepoLoad: RequestGauge
  random: SeededRandom
}

/** Builds the parts over the checked fixtures, wired to each other, with the planned faults scheduled. */
export function buildParts(settings: ReplaySettings, loaded: LoadedFixtures): ReplayParts {
  const { logger, start } = settings
  const random = new SeededRandom(settings.seed)
  const window = new RetainedWindow(settings.window, WINDOW_MAX_BYTES)
  const source = openSource(settings.files, loaded, settings.loop, logger)
  // The hub and the timeline call each other: the hub calls back only once clients connect,
  // long after `timeline` below is made.
  const hub = new ReplayHub({
    window,
    outbox: settings.outbox,
    stuckAfterMs: settings.stuckAfterMs,
    maxClients: settings.maxClients,
    relayQuirks: settings.relayQuirks,
    random,
    logger,
    framesPublished: () => timeline.framesPublished,
    finished: () => timeline.finished,
    onSubscribed: () => {
      if (start === 'first-client') timeline.start()
    },
    onProgress: () => timeline.clientProgress(),
  })
  const repos = new RepoBook({ preloaded: loaded.frames !== null, logger })
  const syncFaults = new SyncFaults(() => timeline.framesPublished, logger)
  const resets = new RepoResets({
    repos,
    hold: (work) => timeline.hold(work),
    send: (spec, applyAt, frames) => hub.armFault(spec, applyAt, frames),
    signingKey: settings.signingKeys,
    framesPublished: () => timeline.framesPublished,
    random,
    logger,
  })
  const fire = (spec: FaultSpec, applyAt: number | undefined): void => {
    if (isSyncFault(spec.kind)) syncFaults.arm({ ...spec, kind: spec.kind })
    else if (isRepoReset(spec.kind)) resets.fire({ ...spec, kind: spec.kind }, applyAt)
    else if (spec.kind === 'refuse-handshake') hub.refuseHandshakes(spec)
    else hub.armFault(spec, applyAt)
  }
  const scheduler = new FaultScheduler(random, fire)
  const pacingTimers = settings.pacingTimers
  const timeline: Timeline = new Timeline(source, new Pacer(settings.rate, () => pacingTimers.now()), window, scheduler, hub, repos, logger, pacingTimers)
  scheduler.addAll(settings.faults, 0)
  return { window, hub, scheduler, timeline, repos, syncFaults, resets, getRepoLoad: new RequestGauge(), random }
}

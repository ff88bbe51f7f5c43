import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { silentLogger } from '../common/logger.js'
import { SeededRandom } from '../common/random.js'
import { ReplayError, ReplayErrorCode } from './errors.js'
import { FaultScheduler } from './fault-scheduler.js'
import { parseFaultSpec, type FaultSpec } from './faults.js'
import { controlHandler } from './http-control.js'
import { OwnOrigin } from './own-origin.js'
import { ReplayHub } from './hub.js'
import { monotonicTimers, Pacer, parseReplayRate } from './pacer.js'
import { DEFAULT_PRELOAD_MAX_BYTES, loadFixtures, openSource } from './source.js'
import { Timeline } from './timeline.js'
import { DEFAULT_MAX_CLIENTS, SUBSCRIBE_PATH, type ReplayHandle, type ReplayOptions, type ReplayRate, type ReplayStatus } from './types.js'
import { RetainedWindow } from './window.js'

export const DEFAULT_WINDOW_FRAMES = 100_000
/** The window also stops at this many bytes (real frames average ~5 KB: 100k frames ~ 500 MB otherwise). */
export const WINDOW_MAX_BYTES = 256 * 1024 * 1024
/** Like the Go relay's per-subscriber buffer. */
export const DEFAULT_OUTBOX_FRAMES = 16_384
export const DEFAULT_PING_INTERVAL_MS = 30_000
/** --max stops waiting for a client that takes less than its 512 KiB send buffer in this time (< ~50 KiB/s). */
export const DEFAULT_STUCK_AFTER_MS = 10_000

/**
 * Starts a fake relay serving fixture files (docs/replay.md). Every fixture is checked in full
 * before the port opens, so a bad path or a corrupt file rejects here with REPLAY_BAD_FIXTURE.
 */
export async function startReplay(options: ReplayOptions): Promise<ReplayHandle> {
  const logger = options.logger ?? silentLogger
  const windowFrames = positiveInt('window', options.window ?? DEFAULT_WINDOW_FRAMES)
  const outbox = positiveInt('outbox', options.outbox ?? DEFAULT_OUTBOX_FRAMES)
  const pingIntervalMs = positiveInt('pingIntervalMs', options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS)
  const stuckAfterMs = positiveInt('stuckAfterMs', options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS)
  const maxClients = positiveInt('maxClients', options.maxClients ?? DEFAULT_MAX_CLIENTS)
  const rate: ReplayRate = parseReplayRate(options.rate ?? { mode: 'max' })
  const plannedFaults = (options.faults ?? []).map(parseFaultSpec)
  const startMode = options.start ?? 'now'
  if (!['now', 'paused', 'first-client'].includes(startMode)) throw new ReplayError(ReplayErrorCode.BadOption, `start must be now, paused or first-client, got ${startMode}`)
  const seed = options.seed ?? SeededRandom.freshSeed()
  const random = new SeededRandom(seed)

  const preloadMaxBytes = options.preloadMaxBytes ?? DEFAULT_PRELOAD_MAX_BYTES
  if (!Number.isSafeInteger(preloadMaxBytes) || preloadMaxBytes < 0) throw new ReplayError(ReplayErrorCode.BadOption, `preloadMaxBytes must be a non-negative integer, got ${preloadMaxBytes}`)
  const loaded = await loadFixtures(options.files, preloadMaxBytes, logger)

  const window = new RetainedWindow(windowFrames, WINDOW_MAX_BYTES)
  const source = openSource(options.files, loaded, options.loop ?? false, logger)
  // The hub and the timeline call each other: the hub calls back only once clients connect,
  // long after `timeline` below is made.
  const hub = new ReplayHub({
    window,
    outbox,
    stuckAfterMs,
    maxClients,
    relayQuirks: options.relayQuirks ?? false,
    random,
    logger,
    framesPublished: () => timeline.framesPublished,
    finished: () => timeline.finished,
    onSubscribed: () => {
      if (startMode === 'first-client') timeline.start()
    },
    onProgress: () => timeline.clientProgress(),
  })
  const fire = (spec: FaultSpec, applyAt: number | undefined): void => {
    if (spec.kind === 'refuse-handshake') hub.refuseHandshakes(spec)
    else hub.armFault(spec, applyAt)
  }
  const scheduler = new FaultScheduler(random, fire)
  const pacingTimers = options.pacingTimers ?? monotonicTimers
  const timeline: Timeline = new Timeline(source, new Pacer(rate, () => pacingTimers.now()), window, scheduler, hub, logger, pacingTimers)
  scheduler.addAll(plannedFaults, 0)

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
  })
  /** All or nothing: a control request's faults are validated and counted against the pending bound first. */
  const injectFaults = (faults: readonly unknown[]): number => {
    scheduler.addAll(faults.map(parseFaultSpec), timeline.framesPublished, true)
    return faults.length
  }
  const control = {
    status,
    setRate: (next: ReplayRate) => timeline.setRate(parseReplayRate(next)),
    pause: () => timeline.pause(),
    resume: () => timeline.resume(),
    injectFault: (fault: FaultSpec): void => void injectFaults([fault]),
  }

  const server = createServer()
  server.on('upgrade', hub.handleUpgrade)
  const listenHost = options.host ?? '127.0.0.1'
  const address = await listen(server, listenHost, options.port ?? 0)
  // Added once the address is known (which Host/Origin is ours); no request is read before this
  // continuation runs, since it follows the listen callback without returning to the event loop.
  const ownOrigin = new OwnOrigin(address, listenHost)
  server.on(
    'request',
    controlHandler({ ...control, injectFaults }, (req) => ownOrigin.refusal(req)),
  )
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const heartbeat = setInterval(() => hub.heartbeat(), pingIntervalMs)
  heartbeat.unref()

  if (startMode === 'now') timeline.start()
  if (startMode === 'paused') timeline.pause()
  logger.info({ url: `ws://${host}:${address.port}${SUBSCRIBE_PATH}`, files: options.files, preloaded: loaded.frames !== null, rate, seed, window: windowFrames, outbox }, 'replay listening')

  let closing: Promise<void> | null = null
  return {
    url: `ws://${host}:${address.port}${SUBSCRIBE_PATH}`,
    httpUrl: `http://${host}:${address.port}`,
    ...control,
    close: () => {
      closing ??= (async () => {
        clearInterval(heartbeat)
        timeline.close()
        await hub.close()
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
      })()
      return closing
    },
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new ReplayError(ReplayErrorCode.BadOption, `${name} must be a positive integer, got ${value}`, { [name]: value })
  return value
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}

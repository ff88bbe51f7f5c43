import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { systemTimers } from '../common/timers.js'
import { replayControls, type ReplayControls } from './controls.js'
import { controlHandler } from './http-control.js'
import { OwnOrigin } from './own-origin.js'
import { buildParts, type ReplayParts } from './parts.js'
import { PlcDirectory } from './plc-directory.js'
import { resolveSettings, type ReplaySettings } from './settings.js'
import { loadFixtures } from './source.js'
import { isSyncPath, PLC_PREFIX, SyncEndpoints } from './sync-endpoints.js'
import { SUBSCRIBE_PATH, type ReplayHandle, type ReplayOptions } from './types.js'

/** The HTTP server of a replay, listening. */
interface Listening {
  url: string
  httpUrl: string
  stopPings(): void
  close(): Promise<void>
}

/**
 * Starts a fake relay serving fixture files (docs/replay.md). Every fixture is checked in full
 * before the port opens, so a bad path or a corrupt file rejects here with REPLAY_BAD_FIXTURE.
 */
export async function startReplay(options: ReplayOptions): Promise<ReplayHandle> {
  const settings = resolveSettings(options)
  const { logger } = settings
  const loaded = await loadFixtures(settings.files, settings.preloadMaxBytes, logger)
  const plc = await PlcDirectory.load(settings.files, loaded.manifests)
  const parts = buildParts(settings, loaded)
  const { injectFaults, ...control } = replayControls(parts, settings)
  const sync = new SyncEndpoints({ repos: parts.repos, faults: parts.syncFaults, plc, random: parts.random, timers: systemTimers, getRepoLoad: parts.getRepoLoad })
  const listening = await serve(parts, { ...control, injectFaults }, sync, settings)

  if (settings.start === 'now') parts.timeline.start()
  if (settings.start === 'paused') parts.timeline.pause()
  const { files, rate, seed, window, outbox } = settings
  const plcUrl = `${listening.httpUrl}${PLC_PREFIX.slice(0, -1)}`
  logger.info({ url: listening.url, plcUrl, didDocuments: plc.size, files, preloaded: loaded.frames !== null, rate, seed, window, outbox }, 'replay listening')
  return { url: listening.url, httpUrl: listening.httpUrl, plcUrl, didDocuments: plc.size, ...control, close: closeOnce(parts, listening) }
}

/**
 * Opens the port: WebSocket upgrades go to the hub, the sync XRPC endpoints and the PLC directory
 * to `sync`, other plain requests to the control endpoints; pings every pingIntervalMs.
 */
async function serve({ hub }: ReplayParts, controls: ReplayControls, sync: SyncEndpoints, { host: listenHost, port, pingIntervalMs }: Pick<ReplaySettings, 'host' | 'port' | 'pingIntervalMs'>): Promise<Listening> {
  const server = createServer()
  server.on('upgrade', hub.handleUpgrade)
  const address = await listen(server, listenHost, port)
  // Added once the address is known (which Host/Origin is ours); no request is read before this
  // continuation runs, since it follows the listen callback without returning to the event loop.
  const ownOrigin = new OwnOrigin(address, listenHost)
  const control = controlHandler(controls, (req) => ownOrigin.refusal(req))
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (isSyncPath(new URL(req.url ?? '/', 'http://replay.invalid').pathname)) sync.handle(req, res)
    else control(req, res)
  })
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const heartbeat = setInterval(() => hub.heartbeat(), pingIntervalMs)
  heartbeat.unref()
  return {
    url: `ws://${host}:${address.port}${SUBSCRIBE_PATH}`,
    httpUrl: `http://${host}:${address.port}`,
    stopPings: () => clearInterval(heartbeat),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** The handle's close: stops pings, the timeline, then the clients, then the server; every call gets the same promise. */
function closeOnce({ timeline, hub, repos }: ReplayParts, listening: Listening): () => Promise<void> {
  let closing: Promise<void> | null = null
  return () => {
    closing ??= (async () => {
      listening.stopPings()
      timeline.close()
      repos.close()
      await hub.close()
      await listening.close()
    })()
    return closing
  }
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

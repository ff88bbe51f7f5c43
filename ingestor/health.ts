import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { IngestorMetrics } from './metrics.js'
import { liveness, readiness, type RedisPing, type Verdict } from './readiness.js'
import type { RedisClient } from './redis-connection.js'
import { RedisProbe } from './redis-probe.js'
import type { ShardKeys } from './redis-sink.js'
import type { IngestorStatus } from './status.js'

export interface HealthServerOptions {
  host: string
  /** 0 = any free port. */
  port: number
  /** /ready fails when frames have waited this long with no write acknowledged. */
  readyWriteTimeoutMs: number
  status: () => IngestorStatus
  /** The writer's connection: the probe opens its own with the same options. */
  redis: RedisClient
  /** The streams to report, index = shard. */
  shards: readonly ShardKeys[]
  /** Per-repo state is on: /metrics counts the repos by sync state. */
  repoState: boolean
}

export interface HealthServer {
  port: number
  /** Feeds the write duration histogram of /metrics. */
  observeWrite(durationMs: number): void
  close(): Promise<void>
}

/** Connections served at once (each closes after its answer); a flood beyond this is refused. */
const MAX_CONNECTIONS = 64

/**
 * GET /health (liveness: 200 unless stopping, stopped or fatal), GET /ready (200 only while
 * events can flow relay -> Redis) and GET /metrics (Prometheus). /health and /ready answer JSON
 * `{ healthy | ready, reasons: [...], ...status }`, 503 with the reasons when not.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { status } = options
  const probe = new RedisProbe(options.redis, options.shards, options.repoState)
  const checkReady = async (): Promise<{ verdict: Verdict; ping: RedisPing }> => {
    const ping = await probe.ping()
    return { verdict: readiness(status(), ping, { writeTimeoutMs: options.readyWriteTimeoutMs, nowMs: Date.now() }), ping }
  }
  const metrics = new IngestorMetrics({ status, probe, live: () => liveness(status()), ready: async () => (await checkReady()).verdict })

  const routes: Record<string, (res: ServerResponse) => Promise<void>> = {
    '/health': async (res) => {
      const verdict = liveness(status())
      json(res, verdict.ok ? 200 : 503, { healthy: verdict.ok, reasons: verdict.reasons, ...status() })
    },
    '/ready': async (res) => {
      const { verdict, ping } = await checkReady()
      json(res, verdict.ok ? 200 : 503, { ready: verdict.ok, reasons: verdict.reasons, redisPing: ping, ...status() })
    },
    '/metrics': async (res) => {
      const body = await metrics.render()
      res.writeHead(200, { 'content-type': metrics.contentType }).end(body)
    },
  }
  const server = createServer((req, res) => {
    // No keep-alive: probes and scrapes come seconds apart, and idle sockets would hold the
    // MAX_CONNECTIONS slots that concurrent requests need.
    res.setHeader('connection', 'close')
    const route = req.method === 'GET' ? routes[(req.url ?? '').split('?')[0]!] : undefined
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /health, /ready or /metrics\n')
      return
    }
    route(res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`${err instanceof Error ? err.message : String(err)}\n`)
    })
  })
  server.maxConnections = MAX_CONNECTIONS
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.host, () => resolve())
    })
  } catch (err) {
    probe.close()
    throw err
  }
  return {
    port: (server.address() as AddressInfo).port,
    observeWrite: (durationMs) => metrics.observeWrite(durationMs),
    close: () =>
      new Promise((resolve) => {
        probe.close()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
}

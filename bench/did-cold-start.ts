import { loadavg, cpus } from 'node:os'
import { Redis } from 'ioredis'
import { silentLogger } from '../common/logger.js'
import { pollUntil } from '../common/wait.js'
import { startRedis } from '../harness/redis/index.js'
import { INGESTOR_DEFAULTS } from '../ingestor/options.js'
import { emptyCounters, type IngestorCounters } from '../ingestor/status.js'
import { DidResolver } from '../ingestor/verify/did-resolver.js'
import { createFrameVerifier } from '../ingestor/verify/frame-verifier.js'
import { startGeneratedPlcServer, type PlcServer } from '../harness/plc-server.js'
import { flagValue } from './ingest-run.js'

/**
 * A restart of --verify against a PLC directory of 50,000 accounts (harness/plc-server.ts, real
 * secp256k1 keys), resolving every DID once, in batches as FrameVerifier does (one batch's
 * distinct DIDs at once, the next batch after), for each --plc-rps value:
 * - cold start: empty Redis, the shared cache on (the ingestor's wiring: createFrameVerifier),
 * - warm restart: a new resolver and Redis connection (a new process, or the --ha standby
 *   taking over) on the Redis the cold run filled,
 * and once, the peer: today's resolver (in-process cache only, no --plc-rps), whose every
 * restart is a cold start.
 *
 * node dist/bench/did-cold-start.js [--dids 50000] [--plc-rps 500,2000] [--latency-ms 0] [--batch 500] [--seed 1]
 * (no assertions; prints numbers. A cold start at the default 50/s takes dids/50 s: 1,000 s for
 * 50,000, so the default runs use higher rates and the table states what 50/s implies.)
 */
const STREAM = 'bench:did-cold-start'

interface Phase {
  name: string
  ms: number
  cpuMs: number
  plcRequests: number
  sharedHits: number
  rateLimitWaits: number
  sharedErrors: number
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const dids = Number(flagValue(argv, '--dids') ?? 50_000)
  const rates = (flagValue(argv, '--plc-rps') ?? '500,2000').split(',').map(Number)
  const latencyMs = Number(flagValue(argv, '--latency-ms') ?? 0)
  const batch = Number(flagValue(argv, '--batch') ?? 500)
  const seed = Number(flagValue(argv, '--seed') ?? 1)
  console.log(
    `node ${process.version}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, load average ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  )
  const generating = performance.now()
  const plc = await startGeneratedPlcServer({ dids, seed, latencyMs })
  console.log(`PLC emulator: ${dids} DIDs (seed ${seed}, keys generated in ${Math.round(performance.now() - generating)} ms), answers after ${latencyMs} ms; batches of ${batch} DIDs\n`)
  const redis = await startRedis({ kind: 'process', persistence: 'none' })
  const admin = new Redis(redis.url)
  const phases: Phase[] = []
  try {
    phases.push(await measure('peer: today (in-process cache only, no rate limit)', plc, batch, (counters) => peerResolver(plc.url, counters)))
    for (const rps of rates) {
      await admin.flushall()
      for (const restart of ['cold start (empty Redis)', 'warm restart (Redis of the cold start)']) {
        // As the ingestor's connection: no offline queue, no retries (ingestor/redis-connection.ts).
        const connection = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
        await connection.connect()
        try {
          phases.push(await measure(`--plc-rps ${rps}: ${restart}`, plc, batch, (counters) => ourResolver(plc.url, rps, counters, connection)))
          // The resolver does not await its stores: let them land before the "restart" (up to 10 s:
          // a store that failed, counted in "errors", never does; the warm restart fetches its DIDs again).
          await pollUntil(async () => (await admin.hlen(`${STREAM}:did-keys`)) === dids, { timeoutMs: 10_000 })
        } finally {
          connection.disconnect()
        }
      }
      const memory = (await admin.call('MEMORY', 'USAGE', `${STREAM}:did-keys`, 'SAMPLES', '0')) as number
      const expiry = (await admin.call('MEMORY', 'USAGE', `${STREAM}:did-keys:expiry`, 'SAMPLES', '0')) as number
      console.log(
        `  shared cache after --plc-rps ${rps}: ${await admin.hlen(`${STREAM}:did-keys`)} entries, ${((memory + expiry) / 1024 / 1024).toFixed(1)} MiB (${Math.round((memory + expiry) / dids)} bytes per DID, MEMORY USAGE)`,
      )
    }
  } finally {
    admin.disconnect()
    await redis.stop()
    await plc.close()
  }
  report(phases, dids)
  console.log(
    `\nload average at the end ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  )
}

/** Resolves every DID of `plc` once with a fresh resolver, in batches. */
async function measure(name: string, plc: PlcServer & { dids: readonly string[] }, batch: number, build: (counters: IngestorCounters) => DidResolver): Promise<Phase> {
  const counters = emptyCounters()
  const resolver = build(counters)
  const requestsBefore = plc.requests()
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  let unresolved = 0
  for (let i = 0; i < plc.dids.length; i += batch) {
    const answers = await Promise.all(plc.dids.slice(i, i + batch).map((did) => resolver.resolve(did)))
    unresolved += answers.filter((answer) => answer.resolution.kind !== 'key').length
  }
  const ms = performance.now() - t0
  const used = process.cpuUsage(cpu)
  if (unresolved > 0) throw new Error(`${name}: ${unresolved} DIDs unresolved`)
  const phase = {
    name,
    ms,
    cpuMs: (used.user + used.system) / 1000,
    plcRequests: plc.requests() - requestsBefore,
    sharedHits: counters.didSharedCacheHits,
    rateLimitWaits: counters.plcRateLimitWaits,
    sharedErrors: counters.didSharedCacheErrors,
  }
  console.log(`  ${name}: ${(ms / 1000).toFixed(2)} s, ${phase.plcRequests} PLC requests`)
  return phase
}

/** The ingestor's resolver as createIngestor wires it with the sink's connection (shared cache on, --plc-rps). */
function ourResolver(plcUrl: string, plcRps: number, counters: IngestorCounters, redis: Redis): DidResolver {
  const settings = { plcUrl, didCacheSize: INGESTOR_DEFAULTS.didCacheSize, didCacheTtlMs: INGESTOR_DEFAULTS.didCacheTtlMs, didTimeoutMs: INGESTOR_DEFAULTS.didTimeoutMs, verifyWorkers: 0, plcRps, stream: STREAM }
  return createFrameVerifier(settings, counters, silentLogger, redis).resolver
}

/** The resolver before the shared cache and --plc-rps: in-process LRU, 8 requests in flight. */
function peerResolver(plcUrl: string, counters: IngestorCounters): DidResolver {
  return new DidResolver({ plcUrl, cacheSize: INGESTOR_DEFAULTS.didCacheSize, ttlMs: INGESTOR_DEFAULTS.didCacheTtlMs, timeoutMs: INGESTOR_DEFAULTS.didTimeoutMs, maxInFlight: 8, counters })
}

function report(phases: readonly Phase[], dids: number): void {
  const peer = phases[0]!
  console.log(
    `\n${'phase'.padEnd(58)} ${'time'.padStart(9)} ${'CPU'.padStart(8)} ${'PLC req'.padStart(8)} ${'req/s'.padStart(6)} ${'shared hits'.padStart(11)} ${'rps waits'.padStart(9)} ${'errors'.padStart(6)}  vs peer (time, PLC requests)`,
  )
  for (const phase of phases) {
    const ratio = phase === peer ? '' : `${(phase.ms / peer.ms).toFixed(3)}x, ${(phase.plcRequests / peer.plcRequests).toFixed(3)}x`
    console.log(
      `${phase.name.padEnd(58)} ${`${(phase.ms / 1000).toFixed(2)} s`.padStart(9)} ${`${(phase.cpuMs / 1000).toFixed(2)} s`.padStart(8)} ${String(phase.plcRequests).padStart(8)} ${String(Math.round((phase.plcRequests / phase.ms) * 1000)).padStart(6)} ${String(phase.sharedHits).padStart(11)} ${String(phase.rateLimitWaits).padStart(9)} ${String(phase.sharedErrors).padStart(6)}  ${ratio}`,
    )
  }
  for (let i = 1; i + 1 < phases.length; i += 2) {
    const [cold, warm] = [phases[i]!, phases[i + 1]!]
    console.log(`${cold.name.split(':')[0]}: warm restart ${(cold.ms / warm.ms).toFixed(1)}x faster than the cold start, ${cold.plcRequests - warm.plcRequests} fewer PLC requests`)
  }
  console.log(`at the default --plc-rps ${INGESTOR_DEFAULTS.plcRps} a cold start needs at least ${dids / INGESTOR_DEFAULTS.plcRps} s for ${dids} DIDs (dids / rate); the warm restart makes no PLC request`)
}

await main()

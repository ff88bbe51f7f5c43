import { Redis } from 'ioredis'
import { DEFAULT_FETCH_LIMITS } from '../repo-sync/fetch-limits.js'
import { measurePeakRss, type PeakRssRun } from './peak-rss.js'

/**
 * One side of bench/backfill.ts in a process of its own (its RSS is its own), told what to do
 * by its one argument (SideTask as JSON): backfills every repo of the PDS into the stream, then
 * prints one JSON line (SideResult).
 */

export interface SideTask {
  side: 'ours' | 'peer'
  redisUrl: string
  /** An idle relay's subscribeRepos URL (ours). */
  relayUrl: string
  pdsUrl: string
  stream: string
}

export interface SideResult {
  /** From the start of the backfill to its return (every repo done). */
  seconds: number
  /** Records published in snapshots, as the side counts them. */
  records: number
  repos: number
  /** Ours: repos whose fetch failed (the ingestor retries them); the peer stops at the first failure. */
  failing: number
  baseRss: number
  peakRss: number
  /** The JS heap (allocated) and the buffers outside it when the peak was sampled, bytes. */
  peakHeap: number
  peakBuffers: number
  /** User + system CPU of this process over the backfill. */
  cpuSeconds: number
}

async function main(): Promise<void> {
  const { side, redisUrl, relayUrl, pdsUrl, stream } = JSON.parse(process.argv[2]!) as SideTask
  const pds = new URL(pdsUrl)
  const redis = new Redis(redisUrl)
  try {
    let result: SideResult
    // Each side loads only its own code.
    if (side === 'ours') {
      const { startOurs } = await import('./backfill-ours.js')
      const ours = await startOurs({ redisUrl, relayUrl, stream, pds })
      try {
        const { run, cpuSeconds } = await measureWithCpu(() => ours.backfill(redis))
        result = { seconds: run.seconds, records: run.result.records, repos: run.result.done, failing: run.result.failing, ...rss(run), cpuSeconds }
      } finally {
        await ours.stop()
      }
    } else if (side === 'peer') {
      const { peerBackfill } = await import('./backfill-peer.js')
      // As many getRepo at once as the ingestor sends to one host.
      const { run, cpuSeconds } = await measureWithCpu(() => peerBackfill(redis, stream, pds, DEFAULT_FETCH_LIMITS.maxPerHost))
      result = { seconds: run.seconds, records: run.result.records, repos: run.result.repos, failing: 0, ...rss(run), cpuSeconds }
    } else {
      throw new Error(`side must be ours or peer (got ${String(side)})`)
    }
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    redis.disconnect()
  }
}

function rss(run: PeakRssRun<unknown>): Pick<SideResult, 'baseRss' | 'peakRss' | 'peakHeap' | 'peakBuffers'> {
  return { baseRss: run.baseRss, peakRss: run.peakRss, peakHeap: run.atPeak.heapTotal, peakBuffers: run.atPeak.external }
}

/** measurePeakRss, and the CPU this process used meanwhile. */
async function measureWithCpu<T>(run: () => Promise<T>): Promise<{ run: PeakRssRun<T>; cpuSeconds: number }> {
  const cpu0 = process.cpuUsage()
  const measured = await measurePeakRss(run)
  const cpu = process.cpuUsage(cpu0)
  return { run: measured, cpuSeconds: (cpu.user + cpu.system) / 1e6 }
}

await main()

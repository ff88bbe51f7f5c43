/** What `measurePeakRss` saw: the run's time and result, the RSS before it and its peak over the run. */
export interface PeakRssRun<T> {
  seconds: number
  /** RSS before the run (after a GC when --expose-gc), bytes. */
  baseRss: number
  /** Highest RSS sampled during the run, bytes: garbage not yet collected and buffers included. */
  peakRss: number
  /** process.memoryUsage() when the peak was sampled: how much of it was the JS heap and how much buffers. */
  atPeak: NodeJS.MemoryUsage
  result: T
}

/** How often the RSS is sampled. */
const SAMPLE_MS = 20

/** Runs `run` in this process, sampling the RSS every 20 ms. */
export async function measurePeakRss<T>(run: () => Promise<T>): Promise<PeakRssRun<T>> {
  ;(globalThis as { gc?: () => void }).gc?.()
  let atPeak = process.memoryUsage()
  const baseRss = atPeak.rss
  let peakRss = baseRss
  const sample = (): void => {
    const rss = process.memoryUsage.rss()
    if (rss <= peakRss) return
    peakRss = rss
    atPeak = process.memoryUsage()
  }
  const sampler = setInterval(sample, SAMPLE_MS)
  const start = performance.now()
  try {
    const result = await run()
    sample()
    return { seconds: (performance.now() - start) / 1000, baseRss, peakRss, atPeak, result }
  } finally {
    clearInterval(sampler)
  }
}

export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

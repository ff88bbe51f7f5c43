import type { Redis } from 'ioredis'
import type { ReplayHandle } from '../replay/index.js'
import { PublishClock } from './publish-clock.js'
import { openRedisClient } from '../common/redis-open.js'

const SAMPLE_MS = 50
/** Samples kept (bounded: 10 minutes at 50 ms; older ones dropped). */
const MAX_SAMPLES = 12_000

/**
 * End-to-end lag as a user sees it: how long after the relay published an event it is in
 * the stream. Every 50 ms it reads the newest seq in the stream; its lag is now minus the time
 * the replay server sent it (PublishClock: errs high by the clock's poll period, never low).
 * Event `time` fields cannot be used: fixtures carry their recording's timestamps.
 * Percentiles leave out the first `warmupMs` (JIT, decode worker start, first batches);
 * the maximum covers every sample.
 */
export class LagSampler {
  private readonly lagsMs: number[] = []
  private maxLagMs: number | null = null
  private timer: NodeJS.Timeout | null = null
  private busy = false
  private readonly steadyFromMs: number
  private readonly clock: PublishClock

  private constructor(
    private readonly replay: ReplayHandle,
    private readonly redis: Redis,
    private readonly stream: string,
    warmupMs: number,
  ) {
    this.steadyFromMs = Date.now() + warmupMs
    this.clock = new PublishClock(replay)
  }

  static async start(replay: ReplayHandle, redisUrl: string, stream: string, options: { warmupMs?: number } = {}): Promise<LagSampler> {
    const sampler = new LagSampler(replay, await openRedisClient(redisUrl), stream, options.warmupMs ?? 1000)
    sampler.timer = setInterval(() => void sampler.sample(), SAMPLE_MS)
    return sampler
  }

  stop(): { samples: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null } {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.clock.stop()
    this.redis.disconnect()
    const sorted = [...this.lagsMs].sort((a, b) => a - b)
    const at = (q: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!)
    return { samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: this.maxLagMs }
  }

  private async sample(): Promise<void> {
    if (this.busy) return // a slow XREVRANGE must not pile up samples
    this.busy = true
    try {
      const status = this.replay.status()
      // Lag only means something while events are being published.
      if (status.paused || status.finished) return
      const [newest] = await this.redis.xrevrange(this.stream, '+', '-', 'COUNT', 1)
      const fields = newest?.[1] ?? []
      const seq = Number(fields[fields.indexOf('seq') + 1])
      const sentAt = Number.isFinite(seq) ? this.clock.sentAt(seq) : null
      if (sentAt === null) return
      const now = Date.now()
      const lag = Math.max(0, now - sentAt)
      this.maxLagMs = Math.max(this.maxLagMs ?? 0, lag)
      if (now < this.steadyFromMs) return
      this.lagsMs.push(lag)
      if (this.lagsMs.length > MAX_SAMPLES) this.lagsMs.shift()
    } catch {
      // Redis briefly unreachable: no sample
    } finally {
      this.busy = false
    }
  }
}

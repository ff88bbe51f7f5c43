import { LagSampler } from '../lag-sampler.js'
import { sleep } from '../wait.js'
import { check, finishAndCheck, scenarioFixture } from './common.js'
import { withRig } from './rig.js'
import type { Scenario } from './types.js'

const SECONDS = Number(process.env.HARNESS_LIVE_SECONDS ?? 30)
const MAX_LAG_P99_MS = 1000

/**
 * The fixture replayed at its original timing (bursts and lulls as recorded) for 30 s, like
 * production: nothing lost, lag p99 under 1 s, RSS reported.
 */
export const liveShape: Scenario = {
  name: 'live-shape',
  exclusive: true,
  description: `original timing for ${SECONDS} s, like production: no loss, lag p99 < ${MAX_LAG_P99_MS} ms`,
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture, replay: { rate: { mode: 'original' }, loop: true } }, async (rig) => {
      await rig.expected()
      const ingestor = await rig.startIngestor()
      await ingestor.waitForLog((record) => record.msg === 'relay connected', 60_000, 'the relay connection')
      const sampler = await LagSampler.start(rig.replay, rig.redis.url, rig.stream)
      const started = performance.now()
      await sleep(SECONDS * 1000)
      rig.replay.pause()
      const seconds = (performance.now() - started) / 1000
      const lag = sampler.stop()
      const status = rig.replay.status()
      const { stream, checks } = await finishAndCheck(rig, ingestor, { timeoutMs: 120_000, untilSeq: status.headSeq ?? 0 })
      return {
        stream,
        maxRssMb: rig.maxRssMb,
        checks: [...checks, check('lagP99Ms', lag.p99Ms !== null && lag.p99Ms < MAX_LAG_P99_MS, lag.p99Ms, `< ${MAX_LAG_P99_MS}`)],
        details: { seconds: Math.round(seconds), published: status.framesPublished, eventsPerSec: Math.round(status.framesPublished / seconds), lagP50Ms: lag.p50Ms, lagMaxMs: lag.maxMs },
      }
    })
  },
}

import { check, finishAndCheck, scenarioFixture } from './common.js'
import { withRig } from './rig.js'
import type { Scenario } from './types.js'

const LATENCY_MS = 50
const MAX_RSS_MB = 400

/**
 * Every byte to and from Redis delayed 50 ms (TCP proxy) while the relay sends as fast as it
 * can: the ingestor's queue fills and it pauses the socket instead of buffering; nothing lost,
 * RSS bounded.
 */
export const slowRedis: Scenario = {
  name: 'slow-redis',
  description: `Redis behind ${LATENCY_MS} ms latency, relay at max: no loss, RSS < ${MAX_RSS_MB} MB`,
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture, proxyRedis: true }, async (rig) => {
      rig.redisProxy!.setLatency(LATENCY_MS)
      const lastSeq = await rig.lastExpectedSeq() // decode the fixture before the clock starts
      const ingestor = await rig.startIngestor()
      // Events/s of ingesting only: process start-up, the stream check and the drain are not timed.
      await ingestor.waitForLog((record) => record.msg === 'relay connected', 60_000, 'the relay connection')
      const started = performance.now()
      await rig.waitForCursor(lastSeq, ingestor, 240_000)
      const seconds = (performance.now() - started) / 1000
      const { stream, checks } = await finishAndCheck(rig, ingestor, { timeoutMs: 240_000 })
      return {
        stream,
        maxRssMb: rig.maxRssMb,
        checks: [...checks, check('maxRssMb', (rig.maxRssMb ?? 0) < MAX_RSS_MB, rig.maxRssMb, `< ${MAX_RSS_MB}`)],
        details: { latencyMs: LATENCY_MS, eventsPerSec: Math.round(stream.expected / seconds) },
      }
    })
  },
}

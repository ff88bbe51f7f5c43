import { sleep, waitUntil } from '../wait.js'
import { check, finishAndCheck, scenarioFixture } from './common.js'
import { withRig } from './rig.js'
import type { Scenario } from './types.js'
import { sizes } from './profile.js'

const QUEUE_MB = 32
/** RSS may grow by at most the queue bound plus this much while Redis is stalled. */
const GROWTH_SLACK_MB = 100

/**
 * Redis stops answering (the proxy forwards nothing, connections stay open) for 10 s while
 * the relay keeps sending at max: the ingestor must hold at its queue bound (--queue-mb 32)
 * and pause the relay socket; RSS growth stays under the bound plus slack. When Redis
 * answers again everything arrives (the replay server may drop the paused client with
 * ConsumerTooSlow; it reconnects from its cursor).
 */
export const stalledRedis: Scenario = {
  name: 'stalled-redis',
  get description() {
    return `Redis stalled ${sizes().stallSeconds} s under load: RSS bounded by the queue, no loss`
  },
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture, proxyRedis: true, ingestorArgs: ['--queue-mb', String(QUEUE_MB)] }, async (rig) => {
      const total = (await rig.expected()).length
      const stallAt = ctx.random.int(Math.floor(total * 0.1), Math.floor(total * 0.3))
      const ingestor = await rig.startIngestor()
      await waitUntil(
        async () => {
          if (ingestor.exit !== null) throw ingestor.failure('exited early')
          return (await rig.streamLength()) >= stallAt
        },
        { what: `${stallAt} entries`, timeoutMs: 120_000 },
      )
      const rssBefore = ingestor.maxRssMb ?? 0
      rig.redisProxy!.stall()
      const entriesAtStall = await rig.streamLength()
      await sleep(sizes().stallSeconds * 1000)
      const rssDuring = ingestor.maxRssMb ?? 0
      const entriesDuringStall = (await rig.streamLength()) - entriesAtStall
      rig.redisProxy!.unstall()
      if (ingestor.exit !== null) throw ingestor.failure('exited while Redis was stalled')
      const { stream, checks } = await finishAndCheck(rig, ingestor, { timeoutMs: 180_000 })
      const growth = Math.round((rssDuring - rssBefore) * 10) / 10
      return {
        stream,
        maxRssMb: rig.maxRssMb,
        checks: [
          ...checks,
          check('rssGrowthDuringStallMb', growth <= QUEUE_MB + GROWTH_SLACK_MB, growth, `<= ${QUEUE_MB + GROWTH_SLACK_MB} (queue ${QUEUE_MB} MiB + ${GROWTH_SLACK_MB})`),
          check('entriesWrittenDuringStall', entriesDuringStall === 0, entriesDuringStall, '0 (nothing reaches a stalled Redis)'),
        ],
        details: {
          stallSeconds: sizes().stallSeconds,
          rssBeforeStallMb: rssBefore,
          rssDuringStallMb: rssDuring,
          proxyBufferedBytesAtEnd: rig.redisProxy!.stats.buffered,
          relayConnections: rig.replay.status().clients.length,
        },
      }
    })
  },
}

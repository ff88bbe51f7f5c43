import { waitUntil } from '../wait.js'
import { check, finishAndCheck, scenarioFixture } from './common.js'
import { withRig } from './rig.js'
import type { Scenario } from './types.js'

const OUTBOX_FRAMES = 500
const BANDWIDTH_BYTES_PER_SEC = 256 * 1024
const EVENTS_PER_SEC = 3000

/**
 * The link from the relay is slow (proxy at 256 KiB/s) while the relay publishes 3000
 * events/s (a fixed rate: in max mode the replay server waits for its slowest client and
 * never overflows): the per-client outbox (500 frames) overflows, the server sends
 * ConsumerTooSlow and drops the client. The ingestor reconnects from its cursor; once the link is fast again it
 * catches up with nothing lost.
 */
export const slowConsumer: Scenario = {
  name: 'slow-consumer',
  description: 'relay outbox overflows -> ConsumerTooSlow -> reconnect from cursor -> no loss',
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture, proxyRelay: true, replay: { outbox: OUTBOX_FRAMES, rate: { mode: 'rate', eventsPerSec: EVENTS_PER_SEC } } }, async (rig) => {
      rig.relayProxy!.setBandwidth(BANDWIDTH_BYTES_PER_SEC)
      const ingestor = await rig.startIngestor()
      const tooSlow = (): boolean => rig.replay.status().clients.some((client) => client.closeReason?.includes('ConsumerTooSlow') === true)
      await waitUntil(
        () => {
          if (ingestor.exit !== null) throw ingestor.failure('exited early')
          return tooSlow()
        },
        { what: 'ConsumerTooSlow from the replay server', timeoutMs: 120_000 },
      )
      rig.relayProxy!.reset()
      const { stream, checks } = await finishAndCheck(rig, ingestor, { timeoutMs: 180_000 })
      const clients = rig.replay.status().clients
      return {
        stream,
        maxRssMb: rig.maxRssMb,
        checks: [...checks, check('relayConnections', clients.length >= 2, clients.length, '>= 2 (reconnected after ConsumerTooSlow)')],
        details: { outboxFrames: OUTBOX_FRAMES, bandwidthBytesPerSec: BANDWIDTH_BYTES_PER_SEC, closeReasons: clients.map((client) => client.closeReason) },
      }
    })
  },
}

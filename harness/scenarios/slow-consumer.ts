import { waitUntil } from '../wait.js'
import { check, finishAndCheck, scenarioFixture } from './common.js'
import { withRig } from './rig.js'
import type { Scenario } from './types.js'

const OUTBOX_FRAMES = 500
const BANDWIDTH_BYTES_PER_SEC = 256 * 1024
/** Entries written over the slow link before it stops altogether. */
const ENTRIES_BEFORE_STALL = 500

/**
 * The replay server runs at --max with a 500-frame outbox. The link from the relay is slow
 * first (proxy at 256 KiB/s): max mode paces to the slow reader, nothing overflows. Then the
 * link stops (proxy stall): after --stuck-after (default 10 s, under the ingestor's 30 s
 * stall timeout, so the relay acts first) the server stops waiting for the stuck client, its
 * outbox overflows, it gets ConsumerTooSlow and is dropped. Once the link is back the
 * ingestor reconnects from its cursor and catches up with nothing lost.
 */
export const slowConsumer: Scenario = {
  name: 'slow-consumer',
  description: 'slow, then stuck relay link at --max -> outbox overflows -> ConsumerTooSlow -> reconnect from cursor -> no loss',
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture, proxyRelay: true, replay: { outbox: OUTBOX_FRAMES, rate: { mode: 'max' } } }, async (rig) => {
      rig.relayProxy!.setBandwidth(BANDWIDTH_BYTES_PER_SEC)
      const ingestor = await rig.startIngestor()
      await waitUntil(
        async () => {
          if (ingestor.exit !== null) throw ingestor.failure('exited early')
          return (await rig.streamLength()) >= ENTRIES_BEFORE_STALL
        },
        { what: `${ENTRIES_BEFORE_STALL} entries over the slow link`, timeoutMs: 120_000 },
      )
      const tooSlow = (): boolean => rig.replay.status().clients.some((client) => client.closeReason?.includes('ConsumerTooSlow') === true)
      const tooSlowBeforeStall = tooSlow()
      const publishedBeforeStall = rig.replay.status().framesPublished
      rig.relayProxy!.stall()
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
        checks: [
          ...checks,
          check('tooSlowBeforeStall', !tooSlowBeforeStall, tooSlowBeforeStall, 'false (max mode paces to a slow reader)'),
          check('relayConnections', clients.length >= 2, clients.length, '>= 2 (reconnected after ConsumerTooSlow)'),
        ],
        details: {
          outboxFrames: OUTBOX_FRAMES,
          bandwidthBytesPerSec: BANDWIDTH_BYTES_PER_SEC,
          publishedBeforeStall,
          closeReasons: clients.map((client) => client.closeReason),
        },
      }
    })
  },
}

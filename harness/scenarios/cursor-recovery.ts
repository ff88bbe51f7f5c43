import { waitUntil } from '../wait.js'
import { check, finishAndCheck, scenarioFixture } from './common.js'
import { withRig } from './rig.js'
import type { Scenario } from './types.js'

/**
 * Graceful stop mid-stream, restart: the stream is an exact prefix at the stop (nothing past
 * the stored cursor), and exactly once after the restart finishes.
 */
export const cursorRecovery: Scenario = {
  name: 'cursor-recovery',
  description: 'SIGTERM mid-stream, restart from the stored cursor: exactly once',
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture, replay: { rate: { mode: 'rate', eventsPerSec: 4000 } } }, async (rig) => {
      const total = (await rig.expected()).length
      const stopAt = ctx.random.int(Math.floor(total * 0.2), Math.floor(total * 0.6))
      const first = await rig.startIngestor()
      await waitUntil(
        async () => {
          if (first.exit !== null) throw first.failure('exited early')
          return (await rig.streamLength()) >= stopAt
        },
        { what: `${stopAt} entries`, timeoutMs: 60_000 },
      )
      const firstExit = await first.stop()
      const cursorAtStop = await rig.storedCursor()
      const prefix = await rig.check({ upToSeq: cursorAtStop ?? 0 })
      const second = await rig.startIngestor()
      const { stream, checks } = await finishAndCheck(rig, second, { timeoutMs: 120_000 })
      return {
        stream,
        maxRssMb: rig.maxRssMb,
        checks: [
          check('firstExitCode', firstExit.code === 0, firstExit.code, '0 after SIGTERM'),
          check('prefixAtStopExact', prefix.ok && prefix.expected > 0, { expected: prefix.expected, lost: prefix.lost.length, unexpected: prefix.unexpected.length }, 'stream == fixture prefix up to the stored cursor'),
          ...checks,
        ],
        details: { stopAtEntries: stopAt, cursorAtStop },
      }
    })
  },
}

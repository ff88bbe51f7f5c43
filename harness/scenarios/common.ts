import { cachedGeneratedFixture } from '../fixture-cache.js'
import type { IngestorProcess } from '../ingestor-process.js'
import type { StreamCheckResult } from '../../stream-check/stream-checker.js'
import type { Rig } from './rig.js'
import type { ScenarioCheck } from './types.js'
import { sizes } from './profile.js'

const FIXTURE_SEED = 1

/**
 * Every scenario replays the same generated fixture (cached in os.tmpdir(), so it is
 * generated once per machine and size): sizes().fixtureEvents events (profile.ts).
 */
export function scenarioFixture(): Promise<string> {
  return cachedGeneratedFixture({ events: sizes().fixtureEvents, seed: FIXTURE_SEED })
}

/**
 * Waits until the ingestor has stored the cursor of `untilSeq` (default: the last expected
 * event), stops it gracefully (SIGTERM; must exit 0) and checks the stream against the
 * fixture up to the cursor stored at exit (the drain may write a little past `untilSeq`).
 */
export async function finishAndCheck(rig: Rig, ingestor: IngestorProcess, options: { timeoutMs: number; untilSeq?: number }): Promise<{ stream: StreamCheckResult; checks: ScenarioCheck[] }> {
  const untilSeq = options.untilSeq ?? (await rig.lastExpectedSeq())
  await rig.waitForCursor(untilSeq, ingestor, options.timeoutMs)
  // The cursor may already be there when this ingestor starts (earlier lives wrote it all); a
  // SIGTERM before its signal handlers exist would just kill it, so wait until it is running.
  await ingestor.waitForLog((record) => record.msg === 'relay connected', options.timeoutMs, 'the relay connection')
  const exit = await ingestor.stop()
  const cursor = await rig.storedCursor()
  const stream = await rig.check({ upToSeq: cursor ?? untilSeq })
  return {
    stream,
    checks: [
      check('gracefulExitCode', exit.code === 0, exit.code, '0 after SIGTERM'),
      check('cursorIsLastEntry', cursor === (await rig.lastEntrySeq()), { cursor, lastEntry: await rig.lastEntrySeq() }, 'stored cursor == seq of the last stream entry'),
    ],
  }
}

/** The seq of the expected entry `count` entries into the fixture (for scenarios that replay only a part). */
export async function seqAfterEntries(rig: Rig, count: number): Promise<number> {
  const expected = await rig.expected()
  return expected[Math.min(count, expected.length) - 1]!.seq
}

export function check(name: string, ok: boolean, value: unknown, expected: string): ScenarioCheck {
  return { name, ok, value, expected }
}

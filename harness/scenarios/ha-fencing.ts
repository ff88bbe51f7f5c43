import { check, scenarioFixture } from './common.js'
import { HA_LEASE_TTL_S, HA_RIG, LeaseWatch, quiesce, stopAllAndCheck, waitForStandby } from './ha-failover.js'
import { withRig, type Rig } from './rig.js'
import type { Scenario } from './types.js'

const WAIT_MS = 60_000
/** `firehose ingest` exit code for a lost lease (cli/run.ts ExitCode.LeaseLost). */
const EXIT_LEASE_LOST = 5

export const haFencing: Scenario = {
  name: 'ha-fencing',
  description: 'an --ha leader frozen (SIGSTOP) past its lease while the standby takes over, then resumed: it writes nothing more and exits 5 (lease-lost)',
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture, ...HA_RIG }, (rig) => freezeLeader(rig))
  },
}

async function freezeLeader(rig: Rig): ReturnType<Scenario['run']> {
  const watch = await LeaseWatch.open(rig)
  try {
    const a = await rig.startIngestor()
    await watch.waitForLeader(a, WAIT_MS)
    await watch.waitForWriteAfter(null, a, WAIT_MS)
    const b = await rig.startIngestor()
    await waitForStandby(b)

    // Frozen mid-stream: frames keep arriving in its socket and queue, to be written on resume.
    process.kill(a.pid!, 'SIGSTOP')
    let resumed = false
    try {
      await watch.waitForLeader(b, WAIT_MS)
      await watch.waitForWriteAfter(await watch.cursor(), b, WAIT_MS)
      // B catches up and idles: from here on, any change to the stream would be A's.
      const head = await quiesce(rig, watch, b)
      const before = { length: await rig.streamLength(), cursor: await watch.cursor() }
      process.kill(a.pid!, 'SIGCONT')
      resumed = true
      const exit = await a.exited
      const stopped = a.logs.find((record) => record.msg === 'ingestor stopped')
      const lost = a.logs.find((record) => record.msg === 'lease lost: this ingestor stops writing')
      const after = { length: await rig.streamLength(), cursor: await watch.cursor() }
      const counters = (stopped?.counters ?? {}) as Record<string, number>

      rig.replay.resume()
      const { stream, checks } = await stopAllAndCheck(rig, watch, [b])
      return {
        stream,
        maxRssMb: rig.maxRssMb,
        checks: [
          ...checks,
          check('frozenLeaderExit', exit.code === EXIT_LEASE_LOST, exit.code ?? exit.signal, `${EXIT_LEASE_LOST} (lease-lost)`),
          check('frozenLeaderStoppedBy', stopped?.reason === 'lease-lost', stopped?.reason ?? null, "'lease-lost' in its last log line"),
          check('nothingWrittenAfterResume', after.length === before.length && after.cursor === before.cursor, { before, after }, 'stream length and cursor unchanged by the resumed leader'),
        ],
        details: { leaseTtlMs: HA_LEASE_TTL_S * 1000, headAtResume: head, lostBecause: lost?.reason ?? null, resumedLeaderCasMismatches: counters.casMismatches ?? null },
      }
    } finally {
      if (!resumed) process.kill(a.pid!, 'SIGCONT')
    }
  } finally {
    watch.close()
  }
}

import { CRASH_POINTS } from '../../ingestor/crash-points.js'
import type { IngestorProcess } from '../ingestor-process.js'
import { sleep, waitUntil } from '../wait.js'
import { check, finishAndCheck, scenarioFixture } from './common.js'
import { withRig, type Rig } from './rig.js'
import type { Scenario, ScenarioContext } from './types.js'

/** 50 by default; HARNESS_CRASH_KILLS scales it (documented in docs/harness.md). */
const KILLS = Number(process.env.HARNESS_CRASH_KILLS ?? 50)

/**
 * How one ingestor life ends (all SIGKILL): after the stream reaches N entries, after the
 * replay server sent N frames on this connection, at a seeded random time after the relay
 * connection opened, or by an in-process crash point (FIREHOSE_CRASH_AT), which hits
 * instants a signal from outside cannot aim at (between the write and the ack, ...).
 */
type KillPlan =
  | { kind: 'entries'; atEntries: number }
  | { kind: 'frames-sent'; frames: number }
  | { kind: 'time'; afterConnectMs: number }
  | { kind: 'crash-point'; crashAt: string }

function planKills(ctx: ScenarioContext, total: number): KillPlan[] {
  // Stream positions for 'entries' kills, spread over the whole replay.
  const positions = Array.from({ length: KILLS }, () => ctx.random.int(1, total - 1)).sort((a, b) => a - b)
  return positions.map((atEntries): KillPlan => {
    switch (ctx.random.weighted({ entries: 4, 'frames-sent': 2, time: 2, 'crash-point': 3 })) {
      case 'entries':
        return { kind: 'entries', atEntries }
      case 'frames-sent':
        return { kind: 'frames-sent', frames: ctx.random.int(1, 1500) }
      case 'time':
        return { kind: 'time', afterConnectMs: ctx.random.int(0, 1000) }
      case 'crash-point':
        return { kind: 'crash-point', crashAt: `${ctx.random.pick(CRASH_POINTS)}:${ctx.random.int(1, 3)}` }
    }
  })
}

/**
 * Waits for the plan's moment (or the ingestor's own crash), then makes sure it is dead.
 * True when it had already killed itself at its crash point.
 */
async function liveUntilKilled(rig: Rig, ingestor: IngestorProcess, plan: KillPlan, lastSeq: number): Promise<boolean> {
  const connectionsBefore = rig.replay.status().clients.length
  const finished = async (): Promise<boolean> => ingestor.exit !== null || ((await rig.storedCursor()) ?? 0) >= lastSeq
  const timeout = { timeoutMs: 120_000, intervalMs: 10 }
  switch (plan.kind) {
    case 'entries':
      await waitUntil(async () => (await finished()) || (await rig.streamLength()) >= plan.atEntries, { what: `${plan.atEntries} entries`, ...timeout })
      break
    case 'frames-sent':
      await waitUntil(
        async () => {
          const mine = rig.replay.status().clients.slice(connectionsBefore)
          return (await finished()) || mine.some((client) => client.framesSent >= plan.frames)
        },
        { what: `${plan.frames} frames sent`, ...timeout },
      )
      break
    case 'time':
      await ingestor.waitForLog((record) => record.msg === 'relay connected', timeout.timeoutMs, 'the relay connection').catch(() => {})
      await sleep(plan.afterConnectMs)
      break
    case 'crash-point':
      // The ingestor SIGKILLs itself at the point; near the end the point may never be reached.
      await waitUntil(finished, { what: `crash point ${plan.crashAt}`, ...timeout })
      break
  }
  const selfKilled = ingestor.exit !== null
  await ingestor.kill9()
  return selfKilled
}

export const crashKill9: Scenario = {
  name: 'crash-kill9',
  description: `kill -9 the ingestor at ${KILLS} seeded points across a 20k-event replay: 0 lost, 0 duplicated`,
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture }, (rig) => killRepeatedly(ctx, rig))
  },
}

async function killRepeatedly(ctx: ScenarioContext, rig: Rig): ReturnType<Scenario['run']> {
  const total = (await rig.expected()).length
  const lastSeq = await rig.lastExpectedSeq()
  const plans = planKills(ctx, total)
  const byKind: Record<string, number> = {}
  let selfKills = 0
  let cursorMismatches = 0
  for (const plan of plans) {
    const ingestor = await rig.startIngestor(plan.kind === 'crash-point' ? { crashAt: plan.crashAt } : {})
    if (await liveUntilKilled(rig, ingestor, plan, lastSeq)) selfKills++
    const exit = await ingestor.exited
    if (exit.signal !== 'SIGKILL') throw ingestor.failure(`ended with ${exit.signal ?? `code ${exit.code}`} instead of a SIGKILL (plan ${JSON.stringify(plan)})`)
    byKind[plan.kind] = (byKind[plan.kind] ?? 0) + 1
    // Entries and cursor are written atomically: after any kill they must agree.
    const cursor = await rig.storedCursor()
    if (cursor !== null && cursor !== (await rig.lastEntrySeq())) cursorMismatches++
  }
  const entriesAtLastKill = await rig.streamLength()
  const final = await rig.startIngestor()
  const { stream, checks } = await finishAndCheck(rig, final, { timeoutMs: 180_000 })
  return {
    stream,
    maxRssMb: rig.maxRssMb,
    checks: [...checks, check('cursorMatchesLastEntryAfterEachKill', cursorMismatches === 0, cursorMismatches, '0 mismatches')],
    details: { kills: plans.length, killsByKind: byKind, entriesAtLastKill, selfKillsAtCrashPoints: selfKills },
  }
}

import { check, finishAndCheck, scenarioFixture } from './common.js'
import { expectSigkill, liveUntilKilled, planKills } from './kill-plan.js'
import { withRig, type Rig } from './rig.js'
import type { Scenario, ScenarioContext } from './types.js'
import { sizes } from './profile.js'

export const crashKill9: Scenario = {
  name: 'crash-kill9',
  get description() {
    return `kill -9 the ingestor at ${sizes().crashKills} seeded points across a ${sizes().fixtureEvents}-event replay: 0 lost, 0 duplicated`
  },
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture }, (rig) => killRepeatedly(ctx, rig))
  },
}

async function killRepeatedly(ctx: ScenarioContext, rig: Rig): ReturnType<Scenario['run']> {
  const total = (await rig.expected()).length
  const lastSeq = await rig.lastExpectedSeq()
  const plans = planKills(ctx, sizes().crashKills, total)
  const byKind: Record<string, number> = {}
  let selfKills = 0
  let cursorMismatches = 0
  for (const plan of plans) {
    const ingestor = await rig.startIngestor(plan.kind === 'crash-point' ? { crashAt: plan.crashAt } : {})
    if (await liveUntilKilled(rig, ingestor, plan, lastSeq)) selfKills++
    await expectSigkill(ingestor, plan)
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

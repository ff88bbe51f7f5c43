import { FAULT_KINDS, type FaultKind, type FaultSpec } from '../../replay/index.js'
import type { ReplayStatus } from '../../replay/index.js'
import { seqsLostToFaults } from '../../stream-check/replay-faults.js'
import { check, finishAndCheck, scenarioFixture, seqAfterEntries } from './common.js'
import type { Rig } from './rig.js'
import { withRig } from './rig.js'
import type { Scenario, ScenarioCheck, ScenarioContext } from './types.js'

/** Each fault scenario ingests this many events of the fixture (the fault lands in the middle). */
const EVENTS = 6000
const STALL_TIMEOUT_SECONDS = 2

/**
 * One scenario per fault of the replay server's menu, each with its expected outcome. The
 * stream check always applies (losing faults' seqs are excluded from what is expected, from
 * the replay status); `expect` adds what else must be true.
 */
interface FaultCase {
  faults: (atFrame: number) => FaultSpec[]
  outcome: string
  expect: (rig: Rig, status: ReplayStatus) => Promise<ScenarioCheck[]>
}

const reconnected = async (_rig: Rig, status: ReplayStatus): Promise<ScenarioCheck[]> => [check('relayConnections', status.clients.length >= 2, status.clients.length, '>= 2 (reconnected from the cursor)')]
const deadLetters =
  (count: number) =>
  async (rig: Rig): Promise<ScenarioCheck[]> => {
    const dead = await rig.deadLetterLength()
    return [check('deadLetters', dead === count, dead, `${count} (every bad frame kept in <stream>:dead)`)]
  }
const lostSeqs =
  (count: number) =>
  async (_rig: Rig, status: ReplayStatus): Promise<ScenarioCheck[]> => {
    const lost = seqsLostToFaults(status).size
    return [check('seqsLostUpstream', lost === count, lost, `${count} (never delivered intact by the relay; excluded from expected)`)]
  }
const nothingElse = async (): Promise<ScenarioCheck[]> => []

const CASES: Record<FaultKind, FaultCase> = {
  drop: { faults: (at) => [{ kind: 'drop', atFrame: at }], outcome: 'TCP drop: reconnect from cursor, exactly once', expect: reconnected },
  close: { faults: (at) => [{ kind: 'close', atFrame: at, code: 1011 }], outcome: 'clean close 1011: reconnect, exactly once', expect: reconnected },
  stall: {
    faults: (at) => [{ kind: 'stall', atFrame: at, durationMs: STALL_TIMEOUT_SECONDS * 4000 }],
    outcome: `relay silent for 8 s: --stall-timeout ${STALL_TIMEOUT_SECONDS} reconnects before it ends, exactly once`,
    expect: reconnected,
  },
  'refuse-handshake': {
    faults: (at) => [
      { kind: 'refuse-handshake', atFrame: at, count: 2, status: 503, retryAfterSec: 1 },
      { kind: 'drop', atFrame: at + 1 },
    ],
    outcome: 'drop, then two 503 handshakes with Retry-After: 1: retries, exactly once',
    expect: async (rig, status) => [...(await reconnected(rig, status)), check('handshakesRefused', status.handshakesRefused.length === 2, status.handshakesRefused.length, '2')],
  },
  garbage: { faults: (at) => [{ kind: 'garbage', atFrame: at, count: 3, bytes: 300 }], outcome: '3 random messages: dead-lettered, no event lost', expect: deadLetters(3) },
  truncate: {
    faults: (at) => [{ kind: 'truncate', atFrame: at, count: 2 }],
    outcome: '2 frames cut in half: dead-lettered, their seqs lost upstream, nothing else',
    expect: async (rig, status) => [...(await deadLetters(2)(rig)), ...(await lostSeqs(2)(rig, status))],
  },
  oversize: { faults: (at) => [{ kind: 'oversize', atFrame: at }], outcome: 'a frame over the 5 MB limit: dead-lettered, no event lost', expect: deadLetters(1) },
  'unknown-type': { faults: (at) => [{ kind: 'unknown-type', atFrame: at }], outcome: 'unknown `t`: skipped, no event lost', expect: deadLetters(0) },
  duplicate: { faults: (at) => [{ kind: 'duplicate', atFrame: at, count: 5 }], outcome: '5 frames sent twice: skipped, exactly once', expect: nothingElse },
  regress: {
    faults: (at) => [{ kind: 'regress', atFrame: at, count: 3, by: 10 }],
    outcome: '3 frames with seqs going backwards: skipped as upstream loss, nothing else lost',
    expect: lostSeqs(3),
  },
  swallow: { faults: (at) => [{ kind: 'swallow', atFrame: at, count: 5 }], outcome: '5 frames never sent: a counted gap, nothing else lost', expect: lostSeqs(5) },
  'error-frame': {
    faults: (at) => [{ kind: 'error-frame', atFrame: at, error: 'ConsumerTooSlow', message: 'replay fault' }],
    outcome: 'error frame ConsumerTooSlow + close 1008: reconnect from cursor, exactly once',
    expect: reconnected,
  },
  info: { faults: (at) => [{ kind: 'info', atFrame: at, name: 'OutdatedCursor' }], outcome: '#info OutdatedCursor: warned and counted, no event lost', expect: deadLetters(0) },
}

function relayFault(kind: FaultKind): Scenario {
  const fault = CASES[kind]
  return {
    name: `relay-fault-${kind}`,
    description: fault.outcome,
    run: (ctx) => runFault(ctx, fault),
  }
}

async function runFault(ctx: ScenarioContext, fault: FaultCase): ReturnType<Scenario['run']> {
  const fixture = await scenarioFixture()
  const atFrame = ctx.random.int(Math.floor(EVENTS * 0.2), Math.floor(EVENTS * 0.7))
  const faults = fault.faults(atFrame)
  return withRig(ctx, { fixture, replay: { faults }, ingestorArgs: ['--stall-timeout', String(STALL_TIMEOUT_SECONDS)] }, async (rig) => {
    const ingestor = await rig.startIngestor()
    const { stream, checks } = await finishAndCheck(rig, ingestor, { timeoutMs: 120_000, untilSeq: await seqAfterEntries(rig, EVENTS) })
    const status = rig.replay.status()
    const applied = status.clients.reduce((n, client) => n + client.faults.length, 0)
    return {
      stream,
      maxRssMb: rig.maxRssMb,
      checks: [...checks, check('faultsApplied', applied >= 1, applied, '>= 1'), ...(await fault.expect(rig, status))],
      details: { atFrame, faults },
    }
  })
}

export const RELAY_FAULT_SCENARIOS: readonly Scenario[] = FAULT_KINDS.map(relayFault)

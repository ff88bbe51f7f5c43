import { CRASH_POINTS } from '../../ingestor/crash-points.js'
import type { ReplayHandle } from '../../replay/index.js'
import type { IngestorProcess } from '../ingestor-process.js'
import { sleep, waitUntil } from '../wait.js'
import type { ScenarioContext } from './types.js'

/**
 * How one ingestor life ends (all SIGKILL): after the stream reaches N entries, after the
 * replay server sent N frames on this connection, at a seeded random time after the relay
 * connection opened, or by an in-process crash point (FIREHOSE_CRASH_AT), which hits
 * instants a signal from outside cannot aim at (between the write and the ack, ...).
 */
export type KillPlan = { kind: 'entries'; atEntries: number } | { kind: 'frames-sent'; frames: number } | { kind: 'time'; afterConnectMs: number } | { kind: 'crash-point'; crashAt: string }

/** What the kill plans watch: one stream (Rig) or the sum of shard streams and their lowest cursor. */
export interface KillTarget {
  readonly replay: ReplayHandle
  /** The cursor every event up to which is stored (null: none yet, or Redis unreachable). */
  storedCursor(): Promise<number | null>
  /** Entries written so far (over all streams). */
  streamLength(): Promise<number>
}

/** `count` seeded plans; 'entries' kills are spread over the `total` entries of the replay. */
export function planKills(ctx: ScenarioContext, count: number, total: number): KillPlan[] {
  const positions = Array.from({ length: count }, () => ctx.random.int(1, total - 1)).sort((a, b) => a - b)
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
export async function liveUntilKilled(target: KillTarget, ingestor: IngestorProcess, plan: KillPlan, lastSeq: number): Promise<boolean> {
  const connectionsBefore = target.replay.status().clients.length
  const finished = async (): Promise<boolean> => ingestor.exit !== null || ((await target.storedCursor()) ?? 0) >= lastSeq
  const timeout = { timeoutMs: 120_000, intervalMs: 10 }
  switch (plan.kind) {
    case 'entries':
      await waitUntil(async () => (await finished()) || (await target.streamLength()) >= plan.atEntries, { what: `${plan.atEntries} entries`, ...timeout })
      break
    case 'frames-sent':
      await waitUntil(
        async () => {
          const mine = target.replay.status().clients.slice(connectionsBefore)
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

/** A killed life must have ended by SIGKILL (its own crash point or ours), not by exiting. */
export async function expectSigkill(ingestor: IngestorProcess, plan: KillPlan): Promise<void> {
  const exit = await ingestor.exited
  if (exit.signal !== 'SIGKILL') throw ingestor.failure(`ended with ${exit.signal ?? `code ${exit.code}`} instead of a SIGKILL (plan ${JSON.stringify(plan)})`)
}

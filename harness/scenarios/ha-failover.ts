import type { Redis } from 'ioredis'
import type { IngestorProcess } from '../ingestor-process.js'
import { openRedisClient } from '../../common/redis-open.js'
import { sleep, waitUntil } from '../wait.js'
import { check, scenarioFixture } from './common.js'
import { withRig, type Rig, type RigOptions } from './rig.js'
import type { Scenario, ScenarioCheck, ScenarioContext } from './types.js'
import { sizes } from './profile.js'

/** Short, so 20 takeovers fit in about a minute; long enough for a loaded 2-core box to renew (every ttl/3). */
export const HA_LEASE_TTL_S = 1.5
/** A takeover slower than this fails the scenario (generous: CI runs everything on 2 cores). */
const TAKEOVER_LIMIT_MS = 15_000
/** Events keep flowing across all kills: the fixture is looped at this rate. */
export const HA_EVENTS_PER_SEC = 300
const WAIT_MS = 60_000

export const HA_RIG: Omit<RigOptions, 'fixture'> = {
  replay: { rate: { mode: 'rate', eventsPerSec: HA_EVENTS_PER_SEC }, loop: true },
  ingestorArgs: ['--ha', '--lease-ttl', String(HA_LEASE_TTL_S)],
}

/**
 * Redis-side view of an HA pair: who holds the lease (the token is host:pid:random, so the pid
 * names the process) and where the cursor is. One connection, polled.
 */
export class LeaseWatch {
  private constructor(
    private readonly redis: Redis,
    private readonly rig: Rig,
  ) {}

  static async open(rig: Rig): Promise<LeaseWatch> {
    return new LeaseWatch(await openRedisClient(rig.redis.url), rig)
  }

  get leaseKey(): string {
    return `${this.rig.cursorKey}:lease`
  }

  async holderPid(): Promise<number | null> {
    const token = await this.redis.get(this.leaseKey)
    const pid = token === null ? Number.NaN : Number(token.split(':').at(-2))
    return Number.isSafeInteger(pid) ? pid : null
  }

  async cursor(): Promise<number | null> {
    const raw = await this.redis.get(this.rig.cursorKey)
    return raw === null ? null : Number(raw)
  }

  /** Waits until `ingestor` holds the lease; fails at once if it exits. */
  async waitForLeader(ingestor: IngestorProcess, timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        if (ingestor.exit !== null) throw ingestor.failure('exited before it took the lease')
        return (await this.holderPid()) === ingestor.pid
      },
      { what: `pid ${ingestor.pid} to hold ${this.leaseKey}`, timeoutMs, intervalMs: 10 },
    )
  }

  /** Waits until one of `ingestors` holds the lease and returns it; fails at once if any exits. */
  async leaderOf(ingestors: IngestorProcess[], timeoutMs: number): Promise<IngestorProcess> {
    let leader: IngestorProcess | undefined
    await waitUntil(
      async () => {
        const exited = ingestors.find((ingestor) => ingestor.exit !== null)
        if (exited !== undefined) throw exited.failure('exited unexpectedly')
        const pid = await this.holderPid()
        leader = ingestors.find((ingestor) => ingestor.pid === pid)
        return leader !== undefined
      },
      { what: `one of pids ${ingestors.map((i) => i.pid).join(', ')} to hold ${this.leaseKey}`, timeoutMs, intervalMs: 10 },
    )
    return leader!
  }

  /** Waits until the cursor moves past `from` (the leader wrote a batch). */
  async waitForWriteAfter(from: number | null, ingestor: IngestorProcess, timeoutMs: number): Promise<number> {
    let now: number | null = null
    await waitUntil(
      async () => {
        if (ingestor.exit !== null) throw ingestor.failure('exited before writing')
        now = await this.cursor()
        return now !== null && (from === null || now > from)
      },
      { what: `a write by pid ${ingestor.pid} past cursor ${from}`, timeoutMs, intervalMs: 10 },
    )
    return now!
  }

  close(): void {
    this.redis.disconnect()
  }
}

/** Waits until `ingestor` has logged that it waits as a standby (it polls the lease from then on). */
export function waitForStandby(ingestor: IngestorProcess, timeoutMs = WAIT_MS): Promise<unknown> {
  return ingestor.waitForLog((record) => typeof record.msg === 'string' && record.msg.startsWith('standby: leader is'), timeoutMs, 'the standby log line')
}

/** Pauses the replay and waits until the stored cursor reaches the last seq it published; returns that seq. */
export async function quiesce(rig: Rig, watch: LeaseWatch, leader: IngestorProcess): Promise<number> {
  rig.replay.pause()
  const head = rig.replay.status().headSeq
  if (head === null) throw new Error('the replay published nothing')
  await waitUntil(
    async () => {
      if (leader.exit !== null) throw leader.failure('exited before catching up')
      return ((await watch.cursor()) ?? -1) >= head
    },
    { what: `cursor >= head seq ${head}`, timeoutMs: WAIT_MS, intervalMs: 20 },
  )
  return head
}

/** Stops each ingestor gracefully (SIGTERM) and checks the stream up to the stored cursor. */
export async function stopAllAndCheck(rig: Rig, watch: LeaseWatch, ingestors: IngestorProcess[]): Promise<{ stream: Awaited<ReturnType<Rig['check']>>; checks: ScenarioCheck[] }> {
  const exits = []
  for (const ingestor of ingestors) exits.push(await ingestor.stop())
  const cursor = await watch.cursor()
  const stream = await rig.check({ upToSeq: cursor ?? 0 })
  const lastEntry = await rig.lastEntrySeq()
  return {
    stream,
    checks: [
      check(
        'gracefulExitCodes',
        exits.every((exit) => exit.code === 0),
        exits.map((exit) => exit.code),
        'all 0 after SIGTERM',
      ),
      check('cursorIsLastEntry', cursor !== null && cursor === lastEntry, { cursor, lastEntry }, 'stored cursor == seq of the last stream entry'),
    ],
  }
}

export const haFailover: Scenario = {
  name: 'ha-failover',
  get description() {
    return `two --ha ingestors on one stream; the leader is killed -9 ${sizes().haKills} times and the standby takes over: 0 lost, 0 duplicated`
  },
  async run(ctx) {
    const fixture = await scenarioFixture()
    return withRig(ctx, { fixture, ...HA_RIG }, (rig) => killLeaders(ctx, rig))
  },
}

async function killLeaders(ctx: ScenarioContext, rig: Rig): ReturnType<Scenario['run']> {
  const watch = await LeaseWatch.open(rig)
  try {
    let pair = [await rig.startIngestor(), await rig.startIngestor()]
    const leaseMs: number[] = []
    const firstWriteMs: number[] = []
    let cursor: number | null = null
    for (let kill = 0; kill < sizes().haKills; kill++) {
      const leader = await watch.leaderOf(pair, WAIT_MS)
      const standby = pair.find((p) => p !== leader)!
      // The leader has written since it took over, and the other one polls the lease as a standby.
      cursor = await watch.waitForWriteAfter(cursor, leader, WAIT_MS)
      await waitForStandby(standby)
      // A seeded moment in the leader's run: mid-batch, between batches, right after its takeover.
      await sleep(ctx.random.int(0, 500))

      const killedAt = performance.now()
      await leader.kill9()
      const cursorAtKill = await watch.cursor()
      await watch.waitForLeader(standby, TAKEOVER_LIMIT_MS)
      leaseMs.push(performance.now() - killedAt)
      // The killed one comes back as the new standby (it cannot win the lease now that it is taken).
      const restarted = await rig.startIngestor()
      cursor = await watch.waitForWriteAfter(cursorAtKill, standby, TAKEOVER_LIMIT_MS)
      firstWriteMs.push(performance.now() - killedAt)
      pair = [standby, restarted]
    }

    const leader = await watch.leaderOf(pair, WAIT_MS)
    await waitForStandby(pair.find((p) => p !== leader)!)
    await quiesce(rig, watch, leader)
    // The standby first: stopping the leader first would hand it the lease.
    const { stream, checks } = await stopAllAndCheck(rig, watch, [pair.find((p) => p !== leader)!, leader])
    return {
      stream,
      maxRssMb: rig.maxRssMb,
      // Each takeover had TAKEOVER_LIMIT_MS or the scenario failed above.
      checks,
      details: {
        kills: sizes().haKills,
        leaseTtlMs: HA_LEASE_TTL_S * 1000,
        takeoverToLeaseMs: summary(leaseMs),
        takeoverToFirstWriteMs: summary(firstWriteMs),
      },
    }
  } finally {
    watch.close()
  }
}

export function summary(values: number[]): { median: number; max: number } | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return { median: Math.round(sorted[Math.floor(sorted.length / 2)]!), max: Math.round(sorted[sorted.length - 1]!) }
}

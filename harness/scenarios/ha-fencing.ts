import type { IngestorProcess } from '../ingestor-process.js'
import { sleep, waitUntil } from '../wait.js'
import { check, scenarioFixture } from './common.js'
import { HA_LEASE_TTL_S, HA_RIG, LeaseWatch, quiesce, stopAllAndCheck, waitForStandby } from './ha-failover.js'
import { withRig, type Rig } from './rig.js'
import type { Scenario, ScenarioCheck } from './types.js'

const WAIT_MS = 60_000
/** `firehose ingest` exit code for a lost lease (cli/run.ts ExitCode.LeaseLost). */
const EXIT_LEASE_LOST = 5

/** How the leader is cut off past its lease, and let back in after the standby took over. */
interface Freeze {
  /** The old leader's Redis connection goes through rig.redisProxy. */
  proxyRedis: boolean
  freeze(rig: Rig, leader: IngestorProcess): Promise<void>
  thaw(rig: Rig, leader: IngestorProcess): void
  /** Extra checks on the old leader's final counters. */
  checks(counters: Record<string, number>): ScenarioCheck[]
}

/** The whole process frozen: on SIGCONT it finds its lease gone before it writes again. */
const SIGSTOP: Freeze = {
  proxyRedis: false,
  freeze: async (_rig, leader) => void process.kill(leader.pid!, 'SIGSTOP'),
  thaw: (_rig, leader) => process.kill(leader.pid!, 'SIGCONT'),
  checks: () => [],
}

/** More than a lease renewal or two (about 200 bytes each): only a batch of entries is this big. */
const BATCH_ON_THE_WIRE_BYTES = 1024

/**
 * Only its link to Redis stalled: it keeps receiving frames and sends its next batch into the
 * stalled link while it still holds the lease. That write reaches Redis after the standby took
 * over and wrote: the cursor compare-and-set must refuse it.
 */
const STALLED_LINK: Freeze = {
  proxyRedis: true,
  async freeze(rig) {
    const proxy = rig.redisProxy!
    // A stall that caught a write's reply instead (the write itself already ran) leaves nothing
    // stale on the wire: let it through and stall again, well within the lease.
    for (let attempt = 1; ; attempt++) {
      proxy.stall()
      const caught = await waitUntil(() => proxy.stats.buffered >= BATCH_ON_THE_WIRE_BYTES, { what: 'a batch held in the stalled link', timeoutMs: 400, intervalMs: 5 }).then(
        () => true,
        () => false,
      )
      if (caught) return
      proxy.unstall()
      if (attempt === 25) throw new Error('the leader sent no batch into the stalled Redis link in 25 attempts')
      await sleep(100)
    }
  },
  thaw: (rig) => rig.redisProxy!.unstall(),
  checks: (counters) => [check('staleWriteRefusedByCas', (counters.casMismatches ?? 0) >= 1, counters.casMismatches ?? null, '>= 1 CAS mismatch in the old leader')],
}

export const haFencing: Scenario = {
  name: 'ha-fencing',
  description: 'an --ha leader frozen (SIGSTOP) past its lease while the standby takes over, then resumed: it writes nothing more and exits 5 (lease-lost)',
  run: (ctx) => fencingRun(ctx, SIGSTOP),
}

export const haStaleWrite: Scenario = {
  name: 'ha-stale-write',
  description: "an --ha leader's Redis link stalled with a batch on the wire past its lease; the standby takes over; the stale batch, delivered late, is refused by the cursor CAS",
  run: (ctx) => fencingRun(ctx, STALLED_LINK),
}

async function fencingRun(ctx: Parameters<Scenario['run']>[0], freeze: Freeze): ReturnType<Scenario['run']> {
  const fixture = await scenarioFixture()
  return withRig(ctx, { fixture, ...HA_RIG, proxyRedis: freeze.proxyRedis }, (rig) => freezeLeader(rig, freeze))
}

async function freezeLeader(rig: Rig, freeze: Freeze): ReturnType<Scenario['run']> {
  const watch = await LeaseWatch.open(rig)
  try {
    const a = await rig.startIngestor()
    await watch.waitForLeader(a, WAIT_MS)
    await watch.waitForWriteAfter(null, a, WAIT_MS)
    // Direct to Redis: only the old leader is behind the proxy.
    const b = await rig.startIngestor({ redisUrl: rig.redis.url })
    await waitForStandby(b)

    // Frozen mid-stream: frames keep arriving for it, to be written on resume (or already on the wire).
    await freeze.freeze(rig, a)
    let thawed = false
    try {
      await watch.waitForLeader(b, WAIT_MS)
      await watch.waitForWriteAfter(await watch.cursor(), b, WAIT_MS)
      // B catches up and idles: from here on, any change to the stream would be A's.
      const head = await quiesce(rig, watch, b)
      const before = { length: await rig.streamLength(), cursor: await watch.cursor() }
      freeze.thaw(rig, a)
      thawed = true
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
          check('oldLeaderExit', exit.code === EXIT_LEASE_LOST, exit.code ?? exit.signal, `${EXIT_LEASE_LOST} (lease-lost)`),
          check('oldLeaderStoppedBy', stopped?.reason === 'lease-lost', stopped?.reason ?? null, "'lease-lost' in its last log line"),
          check(
            'oldLeaderSaysWhy',
            a.logs.some((record) => record.raw === true && String(record.msg).startsWith('firehose ingest: lost the --ha lease')),
            a.logs.filter((record) => record.raw === true).map((record) => record.msg),
            'one stderr line "firehose ingest: lost the --ha lease ..."',
          ),
          check('nothingWrittenAfterThaw', after.length === before.length && after.cursor === before.cursor, { before, after }, 'stream length and cursor unchanged by the old leader'),
          ...freeze.checks(counters),
        ],
        details: { leaseTtlMs: HA_LEASE_TTL_S * 1000, headAtThaw: head, lostBecause: lost?.reason ?? null, oldLeaderCasMismatches: counters.casMismatches ?? null },
      }
    } finally {
      if (!thawed) freeze.thaw(rig, a)
    }
  } finally {
    watch.close()
  }
}

import { dropAofTail, type RedisPersistence } from '../redis/index.js'
import { sleep, waitUntil } from '../wait.js'
import { finishAndCheck, scenarioFixture } from './common.js'
import { withRig } from './rig.js'
import type { Scenario } from './types.js'
import { sizes } from './profile.js'

const REPLAY_EVENTS_PER_SEC = 3000

/** Upper bound of the AOF tail cut after each everysec kill: about 1 s of writes at this rate. */
const MAX_TAIL_BYTES = 4 * 1024 * 1024

/**
 * SIGKILL Redis 5 times while the ingestor writes (replay at 3000 events/s), each time down
 * for a seeded 0.3-1.5 s, restarted on the same port and data dir. The ingestor must keep
 * running (relay paused, retrying) and end with nothing lost.
 * A SIGKILL alone loses little: under either policy a transaction whose AOF write(2) it tore
 * (restart() repairs that tail as a fixed Redis would, see repairTornTransaction), and with
 * everysec the replied-to writes Redis postponed (up to 2 s) behind a slow background fsync.
 * So for aof-everysec the scenario also cuts a seeded 0-4 MiB off the AOF tail before the
 * restart: the unfsynced second a power loss takes. Redis then comes back with acknowledged
 * writes missing and the cursor lower than the ingestor's position; the ingestor must notice
 * and fetch those events again. Duplicates are reported, not expected: entries and cursor
 * are one atomic write, so a torn tail drops both together.
 */
function redisCrash(persistence: Extract<RedisPersistence, 'aof-everysec' | 'aof-always'>): Scenario {
  return {
    name: `redis-crash-${persistence}`,
    get description() {
      return `SIGKILL Redis ${sizes().redisKills} times under load with ${persistence}: 0 lost after recovery`
    },
    async run(ctx) {
      const fixture = await scenarioFixture()
      return withRig(ctx, { fixture, persistence, replay: { rate: { mode: 'rate', eventsPerSec: REPLAY_EVENTS_PER_SEC } } }, async (rig) => {
        if (!rig.redis.canKill) {
          return { stream: null, maxRssMb: null, skipped: `${rig.redis.kind} Redis cannot be killed by the harness (HARNESS_REDIS=process runs this scenario)` }
        }
        const total = (await rig.expected()).length
        const killAt = Array.from({ length: sizes().redisKills }, () => ctx.random.int(Math.floor(total * 0.1), Math.floor(total * 0.9))).sort((a, b) => a - b)
        const ingestor = await rig.startIngestor()
        const rewinds: number[] = []
        const tailBytesCut: number[] = []
        for (const atEntries of killAt) {
          await waitUntil(
            async () => {
              if (ingestor.exit !== null) throw ingestor.failure('exited while Redis was up')
              return (await rig.streamLength()) >= atEntries
            },
            { what: `${atEntries} entries before killing Redis`, timeoutMs: 120_000 },
          )
          const cursorBefore = await rig.storedCursor()
          await rig.redis.kill()
          if (persistence === 'aof-everysec' && rig.redis.dataDir !== null) {
            tailBytesCut.push(await dropAofTail(rig.redis.dataDir, ctx.random.int(0, MAX_TAIL_BYTES)))
          }
          await sleep(ctx.random.int(300, 1500))
          await rig.redis.restart()
          // What survived in the AOF: with everysec the cursor may come back lower.
          const cursorAfter = await rig.storedCursor()
          rewinds.push((cursorBefore ?? 0) - (cursorAfter ?? 0))
          if (ingestor.exit !== null) throw ingestor.failure('exited while Redis was down')
        }
        const { stream, checks } = await finishAndCheck(rig, ingestor, { timeoutMs: 180_000 })
        const logs = ingestor.logs
        return {
          stream,
          maxRssMb: rig.maxRssMb,
          checks,
          details: {
            redisKills: killAt.length,
            killAtEntries: killAt,
            // Seqs the stored cursor went back by on restart (> 0: acknowledged writes lost by Redis).
            cursorRewinds: rewinds,
            aofTailBytesCut: tailBytesCut,
            warnings: logs.filter((r) => (r.level ?? 0) >= 40).length,
          },
        }
      })
    },
  }
}

export const redisCrashEverysec = redisCrash('aof-everysec')
export const redisCrashAlways = redisCrash('aof-always')

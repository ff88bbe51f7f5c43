import type { Redis } from 'ioredis'
import { DEFAULT_GROUP } from '../../common/contract.js'
import { openRedisClient } from '../../common/redis-open.js'
import { checkStream } from '../../stream-check/stream-checker.js'
import { sleep, waitUntil } from '../wait.js'
import { check, scenarioFixture } from './common.js'
import type { Rig } from './rig.js'
import { withRig } from './rig.js'
import type { Scenario } from './types.js'

const MAX_LEN = 1000
const WRITE_MAX_FRAMES = 500
/** How long the stream stays full before the stopped group comes back. */
const FULL_FOR_MS = 3000
const WORKERS_GROUP = DEFAULT_GROUP
const LIVE_GROUP = 'scenario-live-worker'

/**
 * A worker group: reads with XREADGROUP, copies every entry it gets, in order, to
 * `<stream>:received:<group>` (so the stream checker can judge what the group saw) and
 * acknowledges it, until stopped.
 */
class GroupWorker {
  readonly received: string
  private running = true
  private readonly done: Promise<void>

  private constructor(
    private readonly redis: Redis,
    private readonly stream: string,
    private readonly group: string,
  ) {
    this.received = `${stream}:received:${group}`
    this.done = this.loop()
  }

  static async start(rig: Rig, group: string): Promise<GroupWorker> {
    return new GroupWorker(await openRedisClient(rig.redis.url), rig.stream, group)
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const reply = (await this.redis.xreadgroup('GROUP', this.group, 'worker', 'COUNT', 500, 'BLOCK', 100, 'STREAMS', this.stream, '>')) as [string, [string, string[]][]][] | null
      const entries = reply?.[0]?.[1] ?? []
      if (entries.length === 0) continue
      const batch = this.redis.multi()
      for (const [, fields] of entries) batch.xadd(this.received, '*', ...fields)
      batch.xack(this.stream, this.group, ...entries.map(([id]) => id))
      await batch.exec()
    }
  }

  async stop(): Promise<void> {
    this.running = false
    await this.done
    this.redis.disconnect()
  }
}

/**
 * The issue's case: `--max-len 1000` while the workers' group has not read anything. One group
 * (a live worker) keeps up; `firehose-processors` is stopped. Safe trimming must not delete what
 * the stopped group has not acknowledged: the stream fills to --max-len (+ one write), the
 * ingestor logs "stream full" and writes nothing more (relay backpressure); when the group comes
 * back and acknowledges, ingestion resumes. Both groups must receive the whole fixture, exactly
 * once and in order.
 */
export const stoppedGroup: Scenario = {
  name: 'stopped-group',
  description: `--max-len ${MAX_LEN} with a stopped consumer group: ingestion pauses, the group loses nothing`,
  async run(ctx) {
    const fixture = await scenarioFixture()
    const ingestorArgs = ['--max-len', String(MAX_LEN), '--write-max-frames', String(WRITE_MAX_FRAMES)]
    return withRig(ctx, { fixture, ingestorArgs }, async (rig) => {
      await rig.redis.cli('XGROUP', 'CREATE', rig.stream, WORKERS_GROUP, '0', 'MKSTREAM')
      await rig.redis.cli('XGROUP', 'CREATE', rig.stream, LIVE_GROUP, '0')
      const live = await GroupWorker.start(rig, LIVE_GROUP)
      let stopped: GroupWorker | null = null
      try {
        const startedMs = Date.now()
        const ingestor = await rig.startIngestor()
        await ingestor.waitForLog((record) => record.msg?.startsWith('stream full') === true, 120_000, 'the stream-full warning')
        const fullAfterMs = Date.now() - startedMs
        const lengthAtFull = await rig.streamLength()
        const lastSeqAtFull = await rig.lastEntrySeq()
        await sleep(FULL_FOR_MS)
        const lengthAfterWait = await rig.streamLength()
        const writtenWhileFull = (await rig.lastEntrySeq()) !== lastSeqAtFull
        if (ingestor.exit !== null) throw ingestor.failure('exited while the stream was full')

        stopped = await GroupWorker.start(rig, WORKERS_GROUP)
        await ingestor.waitForLog((record) => record.msg?.startsWith('stream has room again') === true, 60_000, 'ingestion to resume')
        const resumedAfterMs = Date.now() - startedMs
        const lastSeq = await rig.lastExpectedSeq()
        await rig.waitForCursor(lastSeq, ingestor, 180_000)
        const allWrittenAfterMs = Date.now() - startedMs
        const exit = await ingestor.stop()
        const total = (await rig.expected()).length
        const readAll = async (worker: GroupWorker): Promise<boolean> => Number(await rig.redis.cli('XLEN', worker.received)) >= total
        await waitUntil(async () => (await readAll(live)) && (await readAll(stopped!)), { what: `both groups to read ${total} entries`, timeoutMs: 60_000 })
        const expected = await rig.expected()
        const stoppedSaw = await checkStream({ redisUrl: rig.redis.url, stream: stopped.received, expected })
        const liveSaw = await checkStream({ redisUrl: rig.redis.url, stream: live.received, expected })
        return {
          stream: stoppedSaw,
          maxRssMb: rig.maxRssMb,
          checks: [
            check('gracefulExitCode', exit.code === 0, exit.code, '0 after SIGTERM'),
            check('liveGroupExactlyOnce', liveSaw.ok, { delivered: liveSaw.delivered, lost: liveSaw.lost.length, duplicated: liveSaw.duplicated.length }, 'the live group received every entry once, in order'),
            check(
              'lengthWhileFull',
              lengthAtFull <= MAX_LEN + WRITE_MAX_FRAMES && lengthAfterWait <= MAX_LEN + WRITE_MAX_FRAMES,
              { lengthAtFull, lengthAfterWait },
              `<= ${MAX_LEN + WRITE_MAX_FRAMES} (--max-len + one write)`,
            ),
            check('writtenWhileFull', !writtenWhileFull, writtenWhileFull, `false (nothing written during ${FULL_FOR_MS} ms full)`),
          ],
          details: { maxLen: MAX_LEN, lengthAtFull, fullAfterMs, resumedAfterMs, allWrittenAfterMs },
        }
      } finally {
        await live.stop()
        await stopped?.stop()
      }
    })
  },
}

import { join } from 'node:path'
import { Redis, type Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { colocatedKey, keyLayout, shardStream } from '../../common/key-layout.js'
import { SeededRandom } from '../../common/random.js'
import { IngestorProcess } from '../../harness/ingestor-process.js'
import { startRedisCluster, type RedisClusterHandle } from '../../harness/redis/cluster.js'
import { openClusterClient } from '../../common/redis-open.js'
import type { RedisHandle } from '../../harness/redis/index.js'
import { checkShards } from '../../stream-check/shard-checker.js'
import { expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import { sleep, waitUntil } from '../../harness/wait.js'
import { CRASH_POINTS } from '../../ingestor/crash-points.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import type { ReplayHandle } from '../../replay/index.js'
import { expectIngestUsageError, loadIngestor, replay, sequencedRealFrames, startOwnRedis, tempDir, uniqueKeys, writeFixture } from './helpers.js'
import { parsePrometheus, sample } from './prometheus-text.js'
import { sizes } from '../../harness/scenarios/profile.js'

const FRAMES = 3000
const SHARDS = 3

/** Where one deployment's keys live: one redis-server, or a cluster. */
interface Target {
  url: string
  cluster: boolean
  admin: Redis | Cluster
}

/**
 * --shards 3: events split by repo DID into three streams, each written atomically with its own
 * cursor (docs/invariants.md I20). The ingestor CLI is SIGKILLed at seeded points, including
 * between the scripts of one write's shards, and every shard must end with each of its events
 * exactly once, in relay order.
 */
describe('--shards: exactly once per shard across kill -9, on one Redis and on a Redis Cluster', () => {
  const seed = Number(process.env.FIREHOSE_TEST_SEED ?? SeededRandom.freshSeed())
  const temp = tempDir()
  let fixture: string
  let expected: StreamEntry[]
  let relay: ReplayHandle
  beforeAll(async () => {
    fixture = await writeFixture(join(temp.dir, 'shards.fixture.gz'), sequencedRealFrames(FRAMES))
    expected = await expectedEntriesFromFixture(fixture)
    relay = await replay([fixture])
  })
  afterAll(async () => {
    await relay.close()
    temp.cleanup()
  })

  const layoutOf = (target: Target) => keyLayout(SHARDS, target.cluster)
  const cursorKeysOf = (target: Target, keys: ReturnType<typeof uniqueKeys>): string[] =>
    Array.from({ length: SHARDS }, (_, shard) => colocatedKey(layoutOf(target), keys.cursorKey, shardStream(layoutOf(target), keys.stream, shard)))
  const cursors = async (target: Target, keys: ReturnType<typeof uniqueKeys>): Promise<(number | null)[]> =>
    Promise.all(
      cursorKeysOf(target, keys).map(async (key) => {
        // A master may be down mid-test: its shard reads as having no cursor.
        const raw = await target.admin.get(key).catch(() => null)
        return raw === null ? null : Number(raw)
      }),
    )
  const lowest = (values: (number | null)[]): number => Math.min(...values.map((value) => value ?? 0))
  /** Entries in all shard streams together (FRAMES once every event is in). */
  const entries = async (target: Target, keys: ReturnType<typeof uniqueKeys>): Promise<number> => {
    const lengths = await Promise.all(Array.from({ length: SHARDS }, (_, shard) => target.admin.xlen(shardStream(layoutOf(target), keys.stream, shard))))
    return lengths.reduce((sum, length) => sum + length, 0)
  }
  /** Waits until `child` has brought the shard streams to `count` entries in all (or every event is in); fails at once if it exits. */
  const untilEntries = (target: Target, keys: ReturnType<typeof uniqueKeys>, child: IngestorProcess, count: number, what: string): Promise<void> =>
    waitUntil(
      async () => {
        if (child.exit !== null) throw child.failure(`exited before ${what}`)
        // A master coming back may refuse a read for a moment: asked again at the next look.
        return (await entries(target, keys).catch(() => 0)) >= Math.min(FRAMES, count)
      },
      { what, timeoutMs: 30_000, intervalMs: 10 },
    )

  function start(target: Target, keys: ReturnType<typeof uniqueKeys>, crashAt: string | null, extra: string[] = [], logLevel = 'warn'): IngestorProcess {
    return IngestorProcess.start({
      relayUrl: relay.url,
      redisUrl: target.url,
      stream: keys.stream,
      cursorKey: keys.cursorKey,
      crashAt,
      args: ['--shards', String(SHARDS), ...(target.cluster ? ['--redis-cluster'] : []), '--batch-size', '40', '--status-interval', '60', ...extra],
      env: { FIREHOSE_LOG_LEVEL: logLevel },
    })
  }

  /** Kills the CLI at seeded points until the last seq is in every shard; `during` runs between lives (e.g. a master kill). */
  async function killRepeatedly(target: Target, keys: ReturnType<typeof uniqueKeys>, kills: number, random: SeededRandom, between?: (life: number) => Promise<void>): Promise<string[]> {
    const plan: string[] = []
    for (let life = 0; life < kills && lowest(await cursors(target, keys)) < FRAMES; life++) {
      await between?.(life)
      if (random.bool(0.6)) {
        // Each write is one script per shard, so the n-th hit of a point can fall between two shards' scripts.
        const crashAt = `${random.pick(CRASH_POINTS)}:${random.int(1, 8)}`
        plan.push(crashAt)
        const child = start(target, keys, crashAt)
        const exit = await Promise.race([child.exited, sleep(20_000).then(() => null)])
        if (exit === null || exit.signal !== 'SIGKILL') {
          await child.kill9()
          if (lowest(await cursors(target, keys)) < FRAMES) throw child.failure(`did not crash at ${crashAt} (exit ${JSON.stringify(exit)})`)
        }
      } else {
        // At a seeded point: while it starts up (a third of the time), else 1 to 400 entries in.
        const more = random.bool(1 / 3) ? 0 : random.int(1, 400)
        plan.push(`external after ${more} entries`)
        const from = await entries(target, keys)
        const child = start(target, keys, null)
        await untilEntries(target, keys, child, from + more, `${more} more entries`)
        await child.kill9()
      }
    }
    const last = start(target, keys, null, [], 'info')
    await last.waitForLog((record) => record.msg === 'starting from cursor', 30_000, 'the final run to start')
    await waitUntil(async () => lowest(await cursors(target, keys)) >= FRAMES, { what: 'the final run to reach the last seq in every shard', timeoutMs: 60_000 })
    expect(await last.stop()).toEqual({ code: 0, signal: null })
    return plan
  }

  async function expectExactlyOncePerShard(target: Target, keys: ReturnType<typeof uniqueKeys>, why: string): Promise<void> {
    const check = await checkShards({ redis: [target.url], cluster: target.cluster, stream: keys.stream, shards: SHARDS, expected })
    const summary = check.shards.map(({ stream, result }) => ({
      stream,
      expected: result.expected,
      delivered: result.delivered,
      lost: result.lost.slice(0, 20),
      duplicated: result.duplicated.slice(0, 20),
      outOfOrder: result.outOfOrder.slice(0, 20),
      mismatched: result.mismatched.slice(0, 20),
      unexpected: result.unexpected.slice(0, 20),
    }))
    expect(check.ok, `${why}: ${JSON.stringify(summary)}`).toBe(true)
    // Sharding happened: every shard got a share of the repos.
    for (const { result } of check.shards) expect(result.expected, why).toBeGreaterThan(0)
    expect(check.shards.reduce((sum, { result }) => sum + result.delivered, 0)).toBe(FRAMES)
    // Each shard's cursor ends at the last seq, and each shard stream has the consumer group.
    expect(await cursors(target, keys), why).toEqual(Array.from({ length: SHARDS }, () => FRAMES))
    for (let shard = 0; shard < SHARDS; shard++) {
      const groups = (await target.admin.xinfo('GROUPS', shardStream(layoutOf(target), keys.stream, shard))) as unknown[][]
      expect(groups.map((group) => group[1])).toEqual(['firehose-processors'])
    }
  }

  describe('one redis-server', () => {
    let redis: RedisHandle
    let target: Target
    beforeAll(async () => {
      redis = await startOwnRedis()
      target = { url: redis.url, cluster: false, admin: new Redis(redis.url) }
    })
    afterAll(async () => {
      target.admin.disconnect()
      await redis.stop()
    })

    it('kill -9 at seeded points (10 in the full profile; crash points inside a write between shards): each shard has its events once, in order', async () => {
      const random = new SeededRandom(seed)
      const keys = uniqueKeys('test:shards')
      // Start from the beginning of the replay window; each shard has its own cursor.
      for (const key of cursorKeysOf(target, keys)) await target.admin.set(key, '0')
      const plan = await killRepeatedly(target, keys, sizes().profile === 'full' ? 10 : 4, random)
      await expectExactlyOncePerShard(target, keys, `seed ${seed}, plan ${plan.join(', ')}; reproduce with FIREHOSE_TEST_SEED=${seed}`)
    }, 180_000)

    it('a crash at the first anchor, and at the first shard script of the first batch, loses nothing: the restart resumes from the run start', async () => {
      // A run without a stored cursor first gives every shard the start position (I20), one
      // script each, then writes its first batch one script per shard. Dying after the n-th script
      // was handed to Redis leaves some shards ahead of the others; without the anchors the
      // others would have no cursor, and the restart would resume from the one ahead (loss).
      // mid-batch:1 is the first anchor (without anchors: the first batch's first shard, the loss case).
      for (const n of [1, SHARDS + 1]) {
        const keys = uniqueKeys(`test:shards-first-${n}`)
        const first = start(target, keys, `mid-batch:${n}`, ['--cursor', '0'])
        const exit = await Promise.race([first.exited, sleep(15_000).then(() => null)])
        if (exit?.signal !== 'SIGKILL') {
          await first.kill9()
          throw first.failure(`did not crash at mid-batch:${n} (exit ${JSON.stringify(exit)})`)
        }
        const afterCrash = await cursors(target, keys)
        // The next run has no --cursor: it resumes from the stored shard cursors.
        const next = start(target, keys, null, [], 'info')
        await next.waitForLog((record) => record.msg === 'starting from cursor', 30_000, 'the second run to start')
        await waitUntil(async () => lowest(await cursors(target, keys)) >= FRAMES, { what: 'the last seq in every shard', timeoutMs: 60_000 })
        expect(await next.stop()).toEqual({ code: 0, signal: null })
        await expectExactlyOncePerShard(target, keys, `crash at mid-batch:${n}, shard cursors after it ${JSON.stringify(afterCrash)}`)
      }
    }, 180_000)

    it("refuses a stream name with braces when sharded (its name is its keys' hash tag) and --shards outside 1..256", async () => {
      await Promise.all([
        expectIngestUsageError(['--shards', '3', '--stream', 'fire{hose}'], {}, /--stream: .*may not contain \{ or \}/),
        expectIngestUsageError(['--shards', '0'], {}, /--shards/),
        expectIngestUsageError([], { FIREHOSE_SHARDS: '257' }, /--shards/),
      ])
    })
  })

  describe('a 3-master Redis Cluster (redis-server --cluster-enabled yes, redis-cli --cluster create)', () => {
    let cluster: RedisClusterHandle
    let target: Target
    beforeAll(async () => {
      cluster = await startRedisCluster({ masters: 3, persistence: 'aof-always', nodeTimeoutMs: 1000 })
      target = { url: cluster.seedUrls[0]!, cluster: true, admin: await openClusterClient(cluster.seedUrls) }
    })
    afterAll(async () => {
      target.admin.disconnect()
      await cluster.stop()
    })

    it('shard keys sit on different masters, and a /N database in the URL is refused (a cluster has only db 0)', async () => {
      const keys = uniqueKeys('test:shards-slots')
      const admin = target.admin as Cluster
      const owners = new Set<string>()
      for (let shard = 0; shard < SHARDS; shard++) {
        const stream = shardStream(layoutOf(target), keys.stream, shard)
        // The stream, its cursor and its dead letters share one slot (one script writes them).
        const slots = await Promise.all([stream, cursorKeysOf(target, keys)[shard]!, colocatedKey(layoutOf(target), `${keys.stream}:dead`, stream)].map((key) => admin.call('CLUSTER', 'KEYSLOT', key)))
        expect(new Set(slots).size, stream).toBe(1)
        owners.add(String(slots[0]))
      }
      expect(owners.size).toBe(SHARDS)
      const child = IngestorProcess.start({ relayUrl: relay.url, redisUrl: `${target.url}/2`, args: ['--redis-cluster', '--shards', '3'] })
      expect((await child.exited).code).toBe(4)
      expect(
        child.logs.some((record) => /only database 0/.test(String(record.msg))),
        JSON.stringify(child.logs.slice(-3)),
      ).toBe(true)
    })

    it('a least-privilege ACL user (the documented ACL + cluster|slots) ingests into the cluster, and /metrics reports every shard stream', async () => {
      // The documented ACL (docs/ingestor.md), on every node: a cluster has no shared users.
      for (const node of cluster.nodes) {
        await node.cli('ACL', 'SETUSER', 'firehose', 'on', '>acl-pass', '~firehose:*', '+@read', '+@write', '+@stream', '+@connection', '-@dangerous', '+evalsha', '+script|load', '+info', '+cluster|slots')
      }
      const keys = uniqueKeys('firehose:test-acl')
      const url = new URL(target.url)
      url.username = 'firehose'
      url.password = 'acl-pass'
      const { startIngestor } = await loadIngestor()
      const ingestor = await startIngestor({
        relayUrl: relay.url,
        redisUrl: url.toString(),
        redisCluster: true,
        shards: SHARDS,
        stream: keys.stream,
        cursorKey: keys.cursorKey,
        startCursor: 0,
        healthPort: 0,
        healthHost: '127.0.0.1',
        statusIntervalMs: 0,
      })
      try {
        await waitUntil(() => (ingestor.status().storedCursor ?? 0) >= FRAMES, { what: 'the last seq in every shard', timeoutMs: 20_000, intervalMs: 50 }).catch((err: unknown) => {
          throw new Error(`${(err as Error).message}: ${JSON.stringify(ingestor.status())}`)
        })
        expect(ingestor.status()).toMatchObject({ state: 'running', error: null, storedCursor: FRAMES, shardCursors: [FRAMES, FRAMES, FRAMES] })
        const check = await checkShards({ redis: [target.url], cluster: true, stream: keys.stream, shards: SHARDS, expected })
        const samples = parsePrometheus(await (await fetch(`http://127.0.0.1:${ingestor.healthPort}/metrics`)).text())
        expect(sample(samples, 'firehose_redis_up')).toBe(1)
        for (const { stream, result } of check.shards) expect(sample(samples, 'firehose_stream_length', { stream }), stream).toBe(result.expected)
        expect(sample(samples, 'firehose_cursor')).toBe(FRAMES)
      } finally {
        await ingestor.stop()
      }
      await expectExactlyOncePerShard(target, keys, 'ACL user')

      // Without cluster|slots the client cannot learn the topology: a configuration error (exit 4 on the CLI), not an endless wait.
      for (const node of cluster.nodes) await node.cli('ACL', 'SETUSER', 'firehose', '-cluster|slots')
      const refused = await startIngestor({ relayUrl: relay.url, redisUrl: url.toString(), redisCluster: true, shards: SHARDS, stream: keys.stream, cursorKey: keys.cursorKey, statusIntervalMs: 0 })
      await Promise.race([refused.done, sleep(10_000)])
      expect(refused.status()).toMatchObject({ state: 'stopped', stoppedBy: 'fatal' })
      expect((refused.error() as { code?: string }).code).toBe('REDIS_NOPERM')
    }, 60_000)

    it('kill -9 at seeded points (6 in the full profile), and one master SIGKILLed and restarted mid-run: each shard has its events once, in order', async () => {
      const random = new SeededRandom(seed + 1)
      const keys = uniqueKeys('test:shards-cluster')
      for (const key of cursorKeysOf(target, keys)) await target.admin.set(key, '0')
      let masterKilled = false
      const plan = await killRepeatedly(target, keys, sizes().profile === 'full' ? 6 : 3, random, async (life) => {
        if (life !== 3 || masterKilled) return
        // An ingestor runs meanwhile (it has written): the writes to the dead master's slots fail and are retried.
        const child = start(target, keys, null)
        await untilEntries(target, keys, child, (await entries(target, keys)) + 1, 'the ingestor to write')
        const node = cluster.nodes[random.int(0, cluster.nodes.length - 1)]!
        await node.kill()
        // Down past the node timeout: the other masters agree it failed (the cluster stops serving).
        const address = new URL(node.url).host
        const other = cluster.nodes.find((candidate) => candidate !== node)!
        await waitUntil(async () => (await other.cli('CLUSTER', 'NODES')).split('\n').some((line) => line.split(' ')[1]?.startsWith(`${address}@`) === true && line.split(' ')[2]!.split(',').includes('fail')), {
          what: `the cluster to mark ${address} failed`,
          timeoutMs: 20_000,
          intervalMs: 50,
        })
        await node.restart()
        await cluster.waitHealthy(20_000)
        masterKilled = true
        // The ingestor writes again once the cluster is back.
        await untilEntries(target, keys, child, (await entries(target, keys)) + 1, 'the ingestor to write after the restart')
        await child.kill9()
      })
      expect(masterKilled || lowest(await cursors(target, keys)) >= FRAMES).toBe(true)
      await expectExactlyOncePerShard(target, keys, `seed ${seed + 1}, plan ${plan.join(', ')}; reproduce with FIREHOSE_TEST_SEED=${seed}`)
    }, 180_000)
  })
})

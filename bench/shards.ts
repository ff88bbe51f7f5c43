import { rm } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { startRedis, startRedisCluster } from '../harness/redis/index.js'
import { benchFixture, flagValue, formatRun, ingestorChild, measure, type RedisTarget, type Run } from './ingest-run.js'

/**
 * Ingest throughput with --shards and --redis-cluster, end to end as bench/ingest.ts measures it
 * (replay server in this process at max rate -> ingestor CLI child -> redis-server children),
 * every run on the same looping fixture to the same event count (summed over the shard streams):
 * the peer `--shards 1` on one redis-server, `--shards 4` on one redis-server, and `--shards 3
 * --redis-cluster` on a 3-master cluster (with 1 and 2 decode workers). Redis CPU is summed over
 * every redis-server of the target. Ratios are against the peer.
 *
 * node dist/bench/shards.js [--events N] [--fixture FILE]
 */
const argv = process.argv.slice(2)
const events = Number(flagValue(argv, '--events') ?? 100_000)

async function main(): Promise<void> {
  const fixture = await benchFixture(flagValue(argv, '--fixture'))
  const runs: Run[] = []
  try {
    // One target at a time, so an idle cluster's bus traffic does not load the single-server runs.
    const redis = await startRedis({ kind: 'process', persistence: 'none' })
    try {
      const single: RedisTarget = { url: redis.url, nodeUrls: [redis.url], cluster: false }
      for (const shards of [1, 4]) {
        runs.push(
          await measure(`(${shards === 1 ? 'a' : 'b'}) --shards ${shards}, 1 redis-server`, fixture, single, (relay, keys) => ingestorChild(relay, redis.url, keys, ['--shards', String(shards)]), { events, shards }),
        )
      }
    } finally {
      await redis.stop()
    }
    const cluster = await startRedisCluster({ masters: 3, persistence: 'none' })
    try {
      const target: RedisTarget = { url: cluster.seedUrls[0]!, nodeUrls: cluster.seedUrls, cluster: true }
      for (const workers of [1, 2]) {
        const extra = ['--shards', '3', '--redis-cluster', '--decode-workers', String(workers)]
        runs.push(
          await measure(`(${workers === 1 ? 'c' : 'd'}) --shards 3, cluster of 3, ${workers} worker${workers === 1 ? '' : 's'}`, fixture, target, (relay, keys) => ingestorChild(relay, target.url, keys, extra), {
            events,
            shards: 3,
          }),
        )
      }
    } finally {
      await cluster.stop()
    }
  } finally {
    if (fixture.synthesized) await rm(fixture.path, { force: true })
  }

  const peer = runs[0]!
  console.log(
    `\nload average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  )
  console.log(`fixture: ${fixture.path}${fixture.synthesized ? ' (synthesized from test/data/real: the committed fixture is missing)' : ''}`)
  console.log(`events per run: ${events}, cores: ${availableParallelism()}`)
  for (const run of runs) console.log(formatRun(run))
  const ratio = (a: number | null, b: number | null): string => (a === null || b === null ? '?' : `${(a / b).toFixed(2)}x`)
  for (const run of runs.slice(1)) {
    console.log(
      `${run.name} vs the peer (${peer.name}): events/s ${ratio(run.eventsPerSec, peer.eventsPerSec)}, CPU per event: consumer ${ratio(run.consumerCpuMsPer1k, peer.consumerCpuMsPer1k)}, ` +
        `redis ${ratio(run.redisCpuMsPer1k, peer.redisCpuMsPer1k)}, both ${ratio(run.consumerCpuMsPer1k + run.redisCpuMsPer1k, peer.consumerCpuMsPer1k + peer.redisCpuMsPer1k)}; max RSS ${ratio(run.maxRssMb, peer.maxRssMb)}`,
    )
  }
}

await main()

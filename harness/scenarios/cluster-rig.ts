import { randomBytes } from 'node:crypto'
import { colocatedKey, keyLayout, shardStream } from '../../common/key-layout.js'
import type { StreamEntry } from '../../protocol/stream-entry.js'
import { startReplay, type ReplayHandle, type ReplayRate } from '../../replay/index.js'
import { HarnessError, HarnessErrorCode } from '../errors.js'
import { IngestorProcess, type IngestorProcessOptions } from '../ingestor-process.js'
import { startRedisCluster, type RedisClusterHandle } from '../redis/cluster.js'
import type { RedisHandle, RedisPersistence } from '../redis/index.js'
import { openRedisClient } from '../../common/redis-open.js'
import { redisCommand } from '../redis/redis-cli.js'
import { checkShards, type ShardCheckResult } from '../../stream-check/shard-checker.js'
import { expectedEntriesFromFixture } from '../../stream-check/stream-checker.js'
import type { KillTarget } from './kill-plan.js'
import { withStarted } from './rig.js'
import type { ScenarioContext } from './types.js'

export interface ClusterRigOptions {
  fixture: string
  shards: number
  rate: ReplayRate
  /** cluster-node-timeout of every node: how soon a dead master is marked failed. */
  nodeTimeoutMs: number
  /** Default 'aof-always'. */
  persistence?: RedisPersistence
  /** Default 0 (a dead master's slots stay down until it is restarted). */
  replicasPerMaster?: number
}

/**
 * Rig for a sharded ingestor on a Redis Cluster: 3 process masters (with replicas if asked), the
 * replay server on a fixture, `firehose ingest --redis-cluster --shards N` children. Each shard's
 * stream and cursor share a hash slot, so each is read from the one master that owns it: found
 * at start, and found again when it stops answering for the slot (a failover moved it).
 */
export class ClusterRig implements KillTarget {
  readonly ingestors: IngestorProcess[] = []
  private expectedEntries: StreamEntry[] | null = null

  private constructor(
    readonly ctx: ScenarioContext,
    readonly options: ClusterRigOptions,
    readonly cluster: RedisClusterHandle,
    readonly replay: ReplayHandle,
    /** The base names given to the ingestor (`--stream`, `--cursor-key`). */
    readonly stream: string,
    readonly cursorKey: string,
    /** Per shard: its stream, its cursor key and the master last seen holding both. */
    private readonly shardKeys: ReadonlyArray<{ stream: string; cursorKey: string; owner: RedisHandle }>,
  ) {}

  static async start(ctx: ScenarioContext, options: ClusterRigOptions): Promise<ClusterRig> {
    const cluster = await startRedisCluster({
      masters: 3,
      persistence: options.persistence ?? 'aof-always',
      nodeTimeoutMs: options.nodeTimeoutMs,
      replicasPerMaster: options.replicasPerMaster ?? 0,
    })
    const cleanup: (() => Promise<void>)[] = [() => cluster.stop()]
    try {
      const replay = await startReplay({ start: 'first-client', rate: options.rate, files: [options.fixture], seed: ctx.seed, logger: ctx.logger.child({ part: 'replay' }) })
      cleanup.push(() => replay.close())
      const prefix = `scenario:${ctx.name}:${ctx.seed}:${randomBytes(4).toString('hex')}`
      const [stream, cursorKey] = [`${prefix}:events`, `${prefix}:cursor`]
      const layout = keyLayout(options.shards, true)
      const shardKeys = []
      for (let shard = 0; shard < options.shards; shard++) {
        const shardName = shardStream(layout, stream, shard)
        shardKeys.push({ stream: shardName, cursorKey: colocatedKey(layout, cursorKey, shardName), owner: await ownerOf(cluster, shardName) })
      }
      return new ClusterRig(ctx, options, cluster, replay, stream, cursorKey, shardKeys)
    } catch (err) {
      for (const step of cleanup.reverse()) await step().catch(() => {})
      throw err
    }
  }

  /**
   * `firehose ingest --redis-cluster --shards N`. Like Rig.startIngestor: the first connects
   * without a cursor; a later one with no shard cursor stored yet gets `--cursor 0`.
   */
  async startIngestor(extra: Partial<IngestorProcessOptions> = {}): Promise<IngestorProcess> {
    const none = (await this.shardCursors()).every((cursor) => cursor === null)
    const bootstrap = none && this.replay.status().framesPublished > 0 ? ['--cursor', '0'] : []
    const ingestor = IngestorProcess.start({
      relayUrl: this.replay.url,
      redisUrl: await this.liveSeedUrl(),
      stream: this.stream,
      cursorKey: this.cursorKey,
      ...extra,
      args: [...bootstrap, '--redis-cluster', '--shards', String(this.options.shards), ...(extra.args ?? [])],
    })
    this.ingestors.push(ingestor)
    return ingestor
  }

  /** The first node that answers: a killed node may be seedUrls[0], and the ingestor takes one seed. */
  private async liveSeedUrl(): Promise<string> {
    for (const node of this.cluster.nodes) {
      if (
        await node.cli('PING').then(
          () => true,
          () => false,
        )
      )
        return node.url
    }
    throw new HarnessError(HarnessErrorCode.ClusterUnreachable, 'no node of the Redis Cluster answers PING', {})
  }

  /** The master serving shard `shard`'s slot now (a failover moves it to the promoted replica). */
  async shardOwner(shard: number): Promise<RedisHandle> {
    const keys = this.shardKeys[shard]!
    if (!(await servesKey(keys.owner, keys.stream))) keys.owner = await ownerOf(this.cluster, keys.stream)
    return keys.owner
  }

  /** `command` on the master of `shard`, found again once if the last known one fails (killed, or no longer the owner). */
  private async onOwner<T>(shard: number, command: (owner: RedisHandle) => Promise<T>): Promise<T> {
    const keys = this.shardKeys[shard]!
    try {
      return await command(keys.owner)
    } catch {
      keys.owner = await ownerOf(this.cluster, keys.stream)
      return command(keys.owner)
    }
  }

  /** Shard `shard`'s cursor as `node` itself holds it (null when unset); rejects if `node` is down or not its master. */
  async cursorOn(node: RedisHandle, shard: number): Promise<number | null> {
    const raw = await redisCommand(node.url, ['GET', this.shardKeys[shard]!.cursorKey])
    return raw === '' ? null : Number(raw)
  }

  /** Each shard's stored cursor (null when unset or no master serves it right now). */
  shardCursors(): Promise<(number | null)[]> {
    return Promise.all(
      this.shardKeys.map(async ({ cursorKey }, shard) => {
        const raw = await this.onOwner(shard, (owner) => redisCommand(owner.url, ['GET', cursorKey])).catch(() => '')
        return raw === '' ? null : Number(raw)
      }),
    )
  }

  /** The lowest shard cursor (every shard holds its events up to it); null while a shard has none. */
  async storedCursor(): Promise<number | null> {
    const cursors = await this.shardCursors()
    return cursors.some((cursor) => cursor === null) ? null : Math.min(...(cursors as number[]))
  }

  /** Entries over all shard streams (a shard no master serves right now counts 0). */
  async streamLength(): Promise<number> {
    const lengths = await Promise.all(this.shardKeys.map(({ stream }, shard) => this.onOwner(shard, (owner) => redisCommand(owner.url, ['XLEN', stream])).catch(() => '0')))
    return lengths.reduce((sum, length) => sum + Number(length), 0)
  }

  /** Seq of the newest entry of each shard stream (null when empty). */
  lastEntrySeqs(): Promise<(number | null)[]> {
    return Promise.all(
      this.shardKeys.map(({ stream }, shard) =>
        this.onOwner(shard, async (owner) => {
          const client = await openRedisClient(owner.url)
          try {
            const [newest] = await client.xrevrange(stream, '+', '-', 'COUNT', 1)
            const fields = newest?.[1] ?? []
            const at = fields.indexOf('seq')
            return at === -1 ? null : Number(fields[at + 1])
          } finally {
            client.disconnect()
          }
        }),
      ),
    )
  }

  /** One pass of the fixture, decoded once per rig. */
  async expected(): Promise<StreamEntry[]> {
    this.expectedEntries ??= await expectedEntriesFromFixture(this.options.fixture)
    return this.expectedEntries
  }

  async lastExpectedSeq(): Promise<number> {
    const last = (await this.expected()).at(-1)
    if (last === undefined) throw new HarnessError(HarnessErrorCode.InvalidConfig, `fixture ${this.options.fixture} yields no entries`, { fixture: this.options.fixture })
    return last.seq
  }

  async check(): Promise<ShardCheckResult> {
    return checkShards({ redis: [await this.liveSeedUrl()], cluster: true, stream: this.stream, shards: this.options.shards, expected: await this.expected() })
  }

  get maxRssMb(): number | null {
    const samples = this.ingestors.map((i) => i.maxRssMb).filter((rss): rss is number => rss !== null)
    return samples.length === 0 ? null : Math.max(...samples)
  }

  async close(): Promise<void> {
    for (const ingestor of this.ingestors) await ingestor.kill9()
    await this.replay.close()
    await this.cluster.stop()
  }
}

/** The master serving `key`'s slot: the only node that answers for it instead of redirecting (MOVED) or failing. */
async function ownerOf(cluster: RedisClusterHandle, key: string): Promise<RedisHandle> {
  for (const node of cluster.nodes) {
    if (await servesKey(node, key)) return node
  }
  throw new HarnessError(HarnessErrorCode.ClusterUnreachable, `no node of the cluster serves the slot of ${key} right now`, { key })
}

function servesKey(node: RedisHandle, key: string): Promise<boolean> {
  return redisCommand(node.url, ['TYPE', key]).then(
    () => true,
    () => false,
  )
}

/** Runs `body` with a cluster rig and always closes it. */
export function withClusterRig<T>(ctx: ScenarioContext, options: ClusterRigOptions, body: (rig: ClusterRig) => Promise<T>): Promise<T> {
  return withStarted(ClusterRig.start(ctx, options), body)
}

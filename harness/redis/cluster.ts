import { execFile } from 'node:child_process'
import { HarnessError, HarnessErrorCode } from '../errors.js'
import { freePort } from '../free-port.js'
import { waitUntil } from '../wait.js'
import { startProcessRedis } from './process-redis.js'
import type { RedisHandle, RedisPersistence } from './types.js'

const REDIS_CLI = process.env.HARNESS_REDIS_CLI ?? 'redis-cli'
const HOST = '127.0.0.1'
const SLOTS = 16384
const CREATE_TIMEOUT_MS = 30_000
const HEALTHY_TIMEOUT_MS = 20_000

export interface RedisClusterOptions {
  /** Default 3 (the fewest `redis-cli --cluster create` accepts). */
  masters?: number
  /** Default 'none'. */
  persistence?: RedisPersistence
  /** cluster-node-timeout: how long until an unreachable master is marked failed. Default 5000. */
  nodeTimeoutMs?: number
  /** Replicas of each master (`--cluster-replicas N`): a dead master's replica is promoted. Default 0. */
  replicasPerMaster?: number
}

export interface RedisClusterHandle {
  /**
   * Every node (masters and replicas), in creation order. kill()/restart() keep the port, so the
   * cluster config stays valid. Which is a master changes on failover: ask masters()/replicaOf().
   */
  readonly nodes: readonly RedisHandle[]
  /** redis:// URL of every node (as of start: restart({ newPort: true }) would leave the cluster). */
  readonly seedUrls: readonly string[]
  /** The nodes that are masters and not failed, as CLUSTER NODES of the first reachable node says now. */
  masters(): Promise<RedisHandle[]>
  /** The master `node` replicates now (null for a master), from the same CLUSTER NODES. */
  replicaOf(node: RedisHandle): Promise<RedisHandle | null>
  /**
   * Resolves once every reachable node reports cluster_state:ok and all 16384 slots ok, every
   * reachable replica is synced with its master, and no master owning slots is failed or unreachable (a killed master counts as healthy only once a
   * replica has taken its slots); else a Timeout HarnessError.
   */
  waitHealthy(timeoutMs?: number): Promise<void>
  /** Stops every node and deletes their data dirs. Idempotent. */
  stop(): Promise<void>
}

/**
 * A Redis Cluster of real redis-server children, slots split evenly over the masters, each with
 * `replicasPerMaster` replicas.
 * Process-only: cluster nodes tell clients and each other their own IP:port, which a
 * container's mapped port would make wrong.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3
  if (!Number.isInteger(masters) || masters < 3) {
    throw new HarnessError(HarnessErrorCode.InvalidConfig, `a Redis Cluster needs at least 3 masters, got ${masters}`, { masters })
  }
  const replicas = options.replicasPerMaster ?? 0
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new HarnessError(HarnessErrorCode.InvalidConfig, `replicasPerMaster must be an integer >= 0, got ${replicas}`, { replicas })
  }
  const nodes: RedisHandle[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()))
  }
  try {
    // One at a time: each node's bus port is probed while the earlier nodes hold theirs.
    for (let i = 0; i < masters * (1 + replicas); i++) nodes.push(await startNode(options))
    await createCluster(nodes, replicas)
    const handle: RedisClusterHandle = {
      nodes,
      seedUrls: nodes.map((node) => node.url),
      masters: async () => (await topology(nodes)).filter((entry) => entry.master && !entry.failed).map((entry) => entry.node),
      replicaOf: async (node) => {
        const entries = await topology(nodes)
        const masterId = entries.find((entry) => entry.node === node)?.masterId ?? null
        return entries.find((entry) => entry.id === masterId)?.node ?? null
      },
      waitHealthy: (timeoutMs = HEALTHY_TIMEOUT_MS) => waitHealthy(nodes, timeoutMs),
      stop,
    }
    await handle.waitHealthy()
    return handle
  } catch (err) {
    await stop()
    throw err
  }
}

async function startNode(options: RedisClusterOptions): Promise<RedisHandle> {
  // The bus port is a free port of its own: the default (port + 10000) is not probed, so
  // another server may hold it (and is past 65535 for ports above 55535).
  const busPort = await freePort(HOST)
  return startProcessRedis({
    persistence: options.persistence ?? 'none',
    extraArgs: [
      '--cluster-enabled',
      'yes',
      // Relative to --dir: the node's own data dir, so its cluster identity survives kill()/restart().
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(options.nodeTimeoutMs ?? 5000),
      '--cluster-port',
      String(busPort),
      // A replica's first sync would wait 5 s (the default) for other replicas to share it.
      '--repl-diskless-sync-delay',
      '0',
    ],
  })
}

async function createCluster(nodes: readonly RedisHandle[], replicasPerMaster: number): Promise<void> {
  const addresses = nodes.map((node) => new URL(node.url).host)
  const args = ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes']
  await new Promise<void>((resolve, reject) => {
    execFile(REDIS_CLI, args, { timeout: CREATE_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err === null) return resolve()
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(
          new HarnessError(
            HarnessErrorCode.RedisStartFailed,
            `${REDIS_CLI} not found: a Redis Cluster is formed with \`redis-cli --cluster create\`; install redis-cli (Redis 5+, e.g. the redis-tools package) or point HARNESS_REDIS_CLI at it`,
            {
              kind: 'process',
              reason: 'redis-cli-missing',
            },
          ),
        )
      }
      const output = `${stdout}${stderr}`.trim()
      reject(
        new HarnessError(HarnessErrorCode.RedisStartFailed, `${REDIS_CLI} ${args.join(' ')} failed (${err.message.split('\n')[0]}): ${output}`, {
          kind: 'process',
          reason: output || err.message,
        }),
      )
    })
  })
}

async function waitHealthy(nodes: readonly RedisHandle[], timeoutMs: number): Promise<void> {
  let states: string[] = []
  try {
    await waitUntil(
      async () => {
        states = await Promise.all(nodes.map(nodeState))
        const live = new Set(nodes.filter((_, i) => states[i] !== DOWN).map(host))
        if (live.size === 0) return false
        // The live nodes' view of who owns slots: a dead owner not yet replaced makes them unhealthy.
        states = await Promise.all(nodes.map(async (node, i) => (states[i] === 'ok' ? ownersState(node, live) : states[i]!)))
        return states.every((state) => state === 'ok' || state === DOWN)
      },
      { what: `a healthy Redis Cluster of ${nodes.length} nodes`, timeoutMs, intervalMs: 100 },
    )
  } catch (err) {
    if (!(err instanceof HarnessError && err.code === HarnessErrorCode.Timeout)) throw err
    const detail = nodes.map((node, i) => `${host(node)} ${states[i] ?? 'not asked'}`).join('; ')
    throw new HarnessError(HarnessErrorCode.Timeout, `${err.message}: ${detail}`, { ...err.fields, nodes: detail })
  }
}

const DOWN = 'down'

function host(node: RedisHandle): string {
  return new URL(node.url).host
}

/**
 * 'ok', 'down' (unreachable), or what is wrong with the node as CLUSTER INFO and INFO
 * replication say. A replica counts only once synced: one that never was is never promoted.
 */
async function nodeState(node: RedisHandle): Promise<string> {
  let info: string
  try {
    info = `${await node.cli('CLUSTER', 'INFO')}\n${await node.cli('INFO', 'replication')}`
  } catch {
    return DOWN
  }
  const field = (name: string): string | undefined => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1]
  const state = field('cluster_state')
  const slotsOk = field('cluster_slots_ok')
  if (state !== 'ok' || slotsOk !== String(SLOTS)) return `cluster_state:${state} cluster_slots_ok:${slotsOk}`
  return field('role') === 'slave' && field('master_link_status') !== 'up' ? `replica with master_link_status:${field('master_link_status')}` : 'ok'
}

/** 'ok' when every master owning slots in `node`'s CLUSTER NODES is live and not flagged failed. */
async function ownersState(node: RedisHandle, live: ReadonlySet<string>): Promise<string> {
  let lines: ClusterNodesLine[]
  try {
    lines = parseClusterNodes(await node.cli('CLUSTER', 'NODES'))
  } catch {
    return DOWN
  }
  const bad = lines.filter((line) => line.slots > 0 && (line.failed || !live.has(line.address)))
  return bad.length === 0 ? 'ok' : `slots owned by ${bad.map((line) => `${line.address}${line.failed ? ' (failed)' : ' (unreachable)'}`).join(', ')}`
}

interface ClusterNodesLine {
  id: string
  /** host:port of its client port. */
  address: string
  master: boolean
  /** Flagged fail (agreed) or fail? (suspected by this node). */
  failed: boolean
  /** Id of the master it replicates; null for a master. */
  masterId: string | null
  /** How many slot fields (ranges or single slots) it owns. */
  slots: number
}

/** CLUSTER NODES: `<id> <ip:port@cport[,hostname]> <flags> <master-id|-> <ping> <pong> <epoch> <link> <slot>...`. */
function parseClusterNodes(text: string): ClusterNodesLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.trim().split(' ')
      const flags = (fields[2] ?? '').split(',')
      return {
        id: fields[0]!,
        address: (fields[1] ?? '').split('@')[0]!,
        master: flags.includes('master'),
        failed: flags.includes('fail') || flags.includes('fail?'),
        masterId: fields[3] === '-' || fields[3] === undefined ? null : fields[3],
        // Slots being migrated ([slot->-node]) are not ownership.
        slots: fields.slice(8).filter((field) => !field.startsWith('[')).length,
      }
    })
}

/** CLUSTER NODES of the first reachable node, each line matched to its handle. */
async function topology(nodes: readonly RedisHandle[]): Promise<(ClusterNodesLine & { node: RedisHandle })[]> {
  for (const node of nodes) {
    const text = await node.cli('CLUSTER', 'NODES').catch(() => null)
    if (text === null) continue
    return parseClusterNodes(text).flatMap((line) => {
      const handle = nodes.find((candidate) => host(candidate) === line.address)
      return handle === undefined ? [] : [{ ...line, node: handle }]
    })
  }
  throw new HarnessError(HarnessErrorCode.ClusterUnreachable, 'no node of the Redis Cluster answers CLUSTER NODES', { nodes: nodes.map(host).join(', ') })
}

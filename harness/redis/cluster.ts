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
}

export interface RedisClusterHandle {
  /** One per master, in creation order. kill()/restart() keep the port, so the cluster config stays valid. */
  readonly nodes: readonly RedisHandle[]
  /** redis:// URL of every node (as of start: restart({ newPort: true }) would leave the cluster). */
  readonly seedUrls: readonly string[]
  /** Resolves once every node reports cluster_state:ok and all 16384 slots ok; else a Timeout HarnessError. */
  waitHealthy(timeoutMs?: number): Promise<void>
  /** Stops every node and deletes their data dirs. Idempotent. */
  stop(): Promise<void>
}

/**
 * A Redis Cluster of real redis-server children, masters only, slots split evenly.
 * Process-only: cluster nodes tell clients and each other their own IP:port, which a
 * container's mapped port would make wrong.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3
  if (!Number.isInteger(masters) || masters < 3) {
    throw new HarnessError(HarnessErrorCode.InvalidConfig, `a Redis Cluster needs at least 3 masters, got ${masters}`, { masters })
  }
  const nodes: RedisHandle[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()))
  }
  try {
    // One at a time: each node's bus port is probed while the earlier nodes hold theirs.
    for (let i = 0; i < masters; i++) nodes.push(await startNode(options))
    await createCluster(nodes)
    const handle: RedisClusterHandle = {
      nodes,
      seedUrls: nodes.map((node) => node.url),
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
  // The bus port is given explicitly: the default (port + 10000) is past 65535 for ports above
  // 55535, which free ports from the ephemeral range often are.
  const busPort = await freePort(HOST)
  return startProcessRedis({
    persistence: options.persistence ?? 'none',
    extraArgs: [
      '--cluster-enabled', 'yes',
      // Relative to --dir: the node's own data dir, so its cluster identity survives kill()/restart().
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 5000),
      '--cluster-port', String(busPort),
    ],
  })
}

async function createCluster(nodes: readonly RedisHandle[]): Promise<void> {
  const addresses = nodes.map((node) => new URL(node.url).host)
  const args = ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']
  await new Promise<void>((resolve, reject) => {
    execFile(REDIS_CLI, args, { timeout: CREATE_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err === null) return resolve()
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(
          new HarnessError(HarnessErrorCode.RedisStartFailed, `${REDIS_CLI} not found: a Redis Cluster is formed with \`redis-cli --cluster create\`; install redis-cli (Redis 5+, e.g. the redis-tools package) or point HARNESS_REDIS_CLI at it`, {
            kind: 'process',
            reason: 'redis-cli-missing',
          }),
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
        return states.every((state) => state === 'ok')
      },
      { what: `a healthy Redis Cluster of ${nodes.length} masters`, timeoutMs, intervalMs: 100 },
    )
  } catch (err) {
    if (!(err instanceof HarnessError && err.code === HarnessErrorCode.Timeout)) throw err
    const detail = nodes.map((node, i) => `${new URL(node.url).host} ${states[i] ?? 'not asked'}`).join('; ')
    throw new HarnessError(HarnessErrorCode.Timeout, `${err.message}: ${detail}`, { ...err.fields, nodes: detail })
  }
}

/** 'ok', or what is wrong with the node as CLUSTER INFO (or the failed connection) says. */
async function nodeState(node: RedisHandle): Promise<string> {
  let info: string
  try {
    info = await node.cli('CLUSTER', 'INFO')
  } catch (err) {
    return `unreachable (${err instanceof Error ? err.message : String(err)})`
  }
  const field = (name: string): string | undefined => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1]
  const state = field('cluster_state')
  const slotsOk = field('cluster_slots_ok')
  return state === 'ok' && slotsOk === String(SLOTS) ? 'ok' : `cluster_state:${state} cluster_slots_ok:${slotsOk}`
}

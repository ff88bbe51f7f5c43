import type { Command } from 'commander'
import { keyLayout, keyLayoutProblem } from '../../common/key-layout.js'
import { redactText, redactUrl } from '../../common/logger.js'
import type { RepoInspection } from '../../repo-sync/repo-inspection.js'
import { did as didArgument, option } from '../options.js'
import { redisClusterOption, redisOption, shardsOption, streamOption } from '../stream-options.js'
import { action, ExitCode } from '../run.js'

interface RepoFlags {
  redis: string
  stream: string
  shards: number
  redisCluster?: boolean
  json?: boolean
}

/** `firehose repo <did>`: one repo's stored per-repo state and open snapshot (docs/repo-sync.md, "Inspecting a repo"). Reads only. */
export function registerRepo(program: Command): void {
  program
    .command('repo')
    .description("print one repo's stored per-repo state (sync state, account status, rev and its time, data CID) and its open snapshot, if any; exit 1 when none is stored or it does not decode")
    .argument('<did>', 'the repo DID (did:plc:..., did:web:...)', didArgument)
    .addOption(redisOption())
    .addOption(streamOption())
    .addOption(shardsOption("read the DID's state beside its shard stream <key>:<i>"))
    .addOption(redisClusterOption())
    .addOption(option('--json', 'print the state as one JSON line', 'FIREHOSE_JSON'))
    .action(action(repo))
}

async function repo(did: string, flags: RepoFlags): Promise<ExitCode> {
  const cluster = flags.redisCluster === true
  const layout = keyLayout(flags.shards, cluster)
  const problem = keyLayoutProblem(layout, flags.stream)
  if (problem !== null) {
    process.stderr.write(`firehose repo: ${problem} (see --help)\n`)
    return ExitCode.Usage
  }
  // Loaded here so that other commands do not pay for these modules.
  const { repoKeysOf } = await import('../../repo-sync/repo-keys.js')
  const { inspectRepo } = await import('../../repo-sync/inspect-repo.js')
  const { openClusterClient, openRedisClient } = await import('../../common/redis-open.js')
  const keys = repoKeysOf(layout, flags.stream, did)
  let inspection: RepoInspection
  try {
    const client = cluster ? await openClusterClient([flags.redis]) : await openRedisClient(flags.redis)
    try {
      inspection = await inspectRepo(client, keys, did)
    } finally {
      client.disconnect()
    }
  } catch (err) {
    return redisFailed(err, flags.redis, keys.state)
  }
  const { repoJson, repoText } = await import('../repo-report.js')
  const context = { redis: redactUrl(flags.redis), shards: flags.shards }
  process.stdout.write(flags.json === true ? `${JSON.stringify(repoJson(inspection, context))}\n` : repoText(inspection, context))
  return inspection.stored.kind === 'state' ? ExitCode.Ok : ExitCode.Failed
}

/** One line on stderr: Redis refusing the configuration (credentials, ACL, db, TLS, a key of another type) is ExitCode.Config, anything else (unreachable) ExitCode.Error. */
async function redisFailed(err: unknown, redis: string, key: string): Promise<ExitCode> {
  const { redisConfigError } = await import('../../ingestor/redis-connection.js')
  const refused = redisConfigError(err)
  const reason = (refused?.message ?? (err instanceof Error ? err.message : String(err))).replace(/\s+/g, ' ').replaceAll(redis, redactUrl(redis))
  process.stderr.write(`firehose repo: cannot read ${key} from Redis at ${redactUrl(redis)}: ${redactText(reason)}${refused === null ? '' : ` [${refused.code}]`}\n`)
  return refused === null ? ExitCode.Error : ExitCode.Config
}

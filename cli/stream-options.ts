import type { Option } from 'commander'
import { DEFAULT_LIST_FROM, DEFAULT_REDIS_URL, DEFAULT_STREAM } from '../common/contract.js'
import { MAX_SHARDS } from '../ingestor/options.js'
import { integer, nonEmpty, option, redisUrl, url } from './options.js'

/**
 * The flags saying where an ingestor's keys are and how it wrote them, for the commands that read
 * them (verify, compare, repo): one definition each, so their names, variables, parsing and
 * defaults agree. Each call builds a new Option (commander keeps one per command; the environment
 * is read when it is built).
 */
export function redisOption(): Option {
  return option('--redis <url>', 'Redis URL', 'REDIS_URL', redisUrl, DEFAULT_REDIS_URL)
}

export function streamOption(): Option {
  return option('--stream <key>', 'stream key', 'REDIS_STREAM_KEY', nonEmpty, DEFAULT_STREAM)
}

/** `meaning`: what the command does with the shards, after "the stream was ingested with --shards n: ". */
export function shardsOption(meaning: string): Option {
  return option('--shards <n>', `the stream was ingested with --shards n: ${meaning}`, 'FIREHOSE_SHARDS', integer(1, MAX_SHARDS), 1)
}

export function redisClusterOption(): Option {
  return option('--redis-cluster', '--redis is a seed node of a Redis Cluster (as for ingest --redis-cluster)', 'FIREHOSE_REDIS_CLUSTER')
}

/** `description`: which streams ingest --repo-state wrote, and what the command then does with them (the variable is ingest's). */
export function repoStateOption(description: string): Option {
  return option('--repo-state', description, 'FIREHOSE_REPO_STATE')
}

/** The one line a command checking streams prints when one holds repo snapshot entries and --repo-state was not given. */
export function repoStateNeeded(command: string, streams: readonly string[]): string {
  return `firehose ${command}: ${streams.join(', ')} ${streams.length === 1 ? 'holds' : 'hold'} repo snapshot entries (written by ingest --repo-state): give --repo-state (or FIREHOSE_REPO_STATE=1) to check ${streams.length === 1 ? 'it' : 'them'}\n`
}

/** Where `backfill` (and `ingest --backfill`) list repos. */
export function listFromOption(): Option {
  return option('--list-from <url>', 'backfill: the relay or PDS to list repos from (listRepos, listReposByCollection)', 'FIREHOSE_LIST_FROM', url(['http:', 'https:']), DEFAULT_LIST_FROM)
}

import { FirehoseError } from '../common/firehose-error.js'

export const HarnessErrorCode = {
  /** The Redis provider cannot SIGKILL or restart this server (external Redis): skip the scenario. */
  RedisCannotKill: 'HARNESS_REDIS_CANNOT_KILL',
  /** redis-server or the container did not come up (fields: kind, reason, log tail). */
  RedisStartFailed: 'HARNESS_REDIS_START_FAILED',
  /** HARNESS_REDIS=container but no Docker/Podman runtime answers, or the Redis image is not present locally. */
  ContainerRuntimeUnavailable: 'HARNESS_CONTAINER_RUNTIME_UNAVAILABLE',
  /** A child process (ingestor) exited or timed out before a condition held. */
  ChildProcessFailed: 'HARNESS_CHILD_PROCESS_FAILED',
  /** No node of a Redis Cluster answers (every one killed or stopped). */
  ClusterUnreachable: 'HARNESS_CLUSTER_UNREACHABLE',
  /** A waited-for condition did not hold within its deadline. */
  Timeout: 'HARNESS_TIMEOUT',
  /** A harness setting (HARNESS_REDIS, scenario option) has a value the harness does not know. */
  InvalidConfig: 'HARNESS_INVALID_CONFIG',
} as const
export type HarnessErrorCode = (typeof HarnessErrorCode)[keyof typeof HarnessErrorCode]

/** Something in the test harness' outside world (Redis, child processes, proxy) went wrong. */
export class HarnessError extends FirehoseError<HarnessErrorCode> {}

/** Thrown by kill()/restart() on a Redis the harness does not own: the scenario must be skipped. */
export class RedisCannotKillError extends HarnessError {
  constructor(kind: string, operation: 'kill' | 'restart') {
    super(HarnessErrorCode.RedisCannotKill, `${operation}() is not possible on ${kind} Redis (the harness does not own that server): skip this scenario or use HARNESS_REDIS=process`, { kind, operation })
  }
}

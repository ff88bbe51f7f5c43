import type { IngestorStatus } from './status.js'

/** One probe of Redis on a connection of its own: a frozen (SIGSTOPped) Redis keeps the writer's connection 'ready'. */
export interface RedisPing {
  ok: boolean
  /** Round trip of the PING; null when it failed. */
  ms: number | null
  /** Why it failed; null when ok. */
  error: string | null
}

export interface Verdict {
  ok: boolean
  /** Every reason it is not ok, in a fixed order; empty when ok. */
  reasons: string[]
}

/**
 * Liveness (`/health`): the process runs and has not given up. Redis and relay outages do not
 * count: the ingestor waits them out, and a restart would not fix them (they are `/ready`'s job).
 */
export function liveness(status: IngestorStatus): Verdict {
  const reasons: string[] = []
  if (status.stoppedBy === 'fatal') reasons.push(`fatal: ${status.error ?? 'unknown error'}`)
  else if (status.state === 'stopping') reasons.push(`stopping (${status.stoppedBy ?? 'stop'}): draining the queue`)
  else if (status.state === 'stopped') reasons.push(`stopped (${status.stoppedBy ?? 'stop'})`)
  return { ok: reasons.length === 0, reasons }
}

/**
 * Readiness (`/ready`): events flow from the relay into Redis. Not ready while not live, while
 * a standby (HA), while starting, while the relay is not connected (or never was), while Redis does not answer, and
 * when frames have waited longer than `writeTimeoutMs` with no write acknowledged meanwhile.
 */
export function readiness(status: IngestorStatus, ping: RedisPing, options: { writeTimeoutMs: number; nowMs: number }): Verdict {
  const reasons = liveness(status).reasons
  // A standby is healthy but must not get traffic meant for the writer; relay and write checks do not apply.
  if (status.state === 'standby') return { ok: false, reasons: [`standby (leader ${status.lease?.holder ?? 'unknown'})`] }
  if (status.state === 'starting') reasons.push('starting: waiting for Redis to read the stored cursor')
  const lastError = status.relay.lastError === null ? '' : ` (${status.relay.lastError})`
  if (status.relay.connects === 0) reasons.push(`relay never connected${lastError}`)
  else if (!status.relay.connected) reasons.push(`relay disconnected${lastError}`)
  // e.g. a relay that resends an oversized message on every connection: connected, yet nothing flows.
  else if (status.relay.lastError !== null) reasons.push(`relay connected but failing, no frame since: ${status.relay.lastError}`)
  const failingForMs = status.redis.writesFailingForMs
  if (failingForMs !== null) reasons.push(`redis writes failing or unanswered for ${seconds(failingForMs)} s`)
  else if (!status.redis.ready) reasons.push(status.redis.lastError === null ? 'redis connection not ready' : `redis connection not ready: ${status.redis.lastError}`)
  if (!ping.ok) reasons.push(`redis not answering: ${ping.error ?? 'no reply'}`)
  if (status.streamFull) reasons.push('stream full: writes wait until consumer groups acknowledge entries (safe trim at --max-len)')
  if (status.pendingSinceMs !== null) {
    // Waiting since the later of: the oldest waiting frame's arrival, the last acknowledged write.
    const waitingMs = options.nowMs - Math.max(status.pendingSinceMs, status.lastAckAtMs ?? 0)
    if (waitingMs > options.writeTimeoutMs) {
      reasons.push(`no write acknowledged for ${seconds(waitingMs)} s while frames wait (limit ${seconds(options.writeTimeoutMs)} s)`)
    }
  }
  return { ok: reasons.length === 0, reasons }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1)
}

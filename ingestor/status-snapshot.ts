import type { RelayFailover } from './relay-failover.js'
import type { FrameQueue } from './frame-queue.js'
import type { Lease } from './lease.js'
import type { Pipeline } from './pipeline.js'
import type { CursorStore } from './cursor-store.js'
import type { RedisSink } from './redis-sink.js'
import type { IngestorCounters, IngestorState, IngestorStatus, StopReason } from './status.js'
import type { StreamFullWait } from './trim-wait.js'

/** The parts a status is read from. */
export interface StatusSources {
  lifecycle: { state: IngestorState; stoppedBy: StopReason | null; error: string | null; relayConnected: boolean }
  shards: number
  pipeline: Pipeline
  store: CursorStore
  queue: FrameQueue
  relays: RelayFailover
  sink: RedisSink
  streamFullWait: StreamFullWait | null
  lease: Lease | null
  counters: IngestorCounters
  repoSync: IngestorStatus['repoSync']
  decodeWorkerFailures: number
  eventsPerSec: number
}

/** status(): one consistent read of every part (docs/ingestor.md "Status"). */
export function statusSnapshot(from: StatusSources): IngestorStatus {
  const { pipeline, store, queue, relays, sink, lease } = from
  const stats = pipeline.stats
  // Sums the counters of every relay client used so far: read once per status.
  const relayStats = relays.stats
  const failingForMs = store.writesFailingForMs
  return {
    state: from.lifecycle.state,
    stoppedBy: from.lifecycle.stoppedBy,
    error: from.lifecycle.error,
    storedCursor: pipeline.storedCursor,
    shardCursors: from.shards > 1 ? pipeline.shardCursors : null,
    position: pipeline.intake.position,
    eventLagMs: stats.eventLagMs,
    receiveLagMs: stats.receiveLagMs,
    lastAckAtMs: stats.lastAckAt,
    pendingSinceMs: stats.pendingSinceMs,
    writtenByType: stats.writtenTypes,
    deadLettersByCode: stats.deadLetterCodes,
    eventsPerSec: from.eventsPerSec,
    queue: { frames: queue.frames, bytes: queue.bytes, maxFrames: queue.maxFrames, maxBytes: queue.maxBytes, decodedBatches: pipeline.decodedBatches },
    relay: {
      connected: from.lifecycle.relayConnected,
      paused: relayStats.paused,
      connects: relayStats.connects,
      reconnects: relayStats.reconnects,
      bytesReceived: relayStats.bytesReceived,
      lastError: relayStats.lastError,
      stalls: relayStats.stalls,
      oversizedMessages: relayStats.oversizedMessages,
      textMessagesIgnored: relayStats.textMessagesIgnored,
      active: relays.current.label,
      failovers: relays.failovers,
      primaryReturns: relays.primaryReturns,
    },
    redis: { ready: sink.isReady && failingForMs === null, writesFailingForMs: failingForMs, lastError: sink.isReady ? null : sink.lastError },
    streamFull: from.streamFullWait?.isFull ?? false,
    lease: lease === null ? null : { held: lease.held, holder: lease.holder },
    repoSync: from.repoSync,
    counters: { ...from.counters, decodeWorkerFailures: from.decodeWorkerFailures },
  }
}

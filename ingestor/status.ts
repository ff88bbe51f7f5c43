import type { BackfillCounts } from '../repo-sync/backfill-fields.js'
/** Every skip, fault and retry is counted here; nothing is dropped without a counter moving. */
export interface IngestorCounters {
  /** Binary frames handed to us by the relay client (all kinds). */
  framesReceived: number
  /** Stream entries written (confirmed by Redis). */
  eventsWritten: number
  batchesWritten: number
  /** Malformed frames quarantined in `<stream>:dead`. */
  deadLettered: number
  /** seq at or below what we already have (resent after a reconnect, or already in Redis). */
  skippedKnown: number
  /** Connections whose first frame had a seq below the cursor we asked for (a relay seq reset?). */
  belowCursorOnConnect: number
  /** seq lower than one already seen on the same connection. */
  skippedBackwards: number
  /** seq equal to the previous one on the same connection. */
  skippedRepeat: number
  /** seq more than one above the previous (gaps are legal upstream; counted for visibility). */
  seqJumps: number
  /** --legacy-cursor-key: entries the legacy consumer wrote past its stored cursor, found at start and not written again (takeover.ts). */
  takeoverSkipped: number
  /** Malformed frames whose seq jumped ahead (or came first): dead-lettered without moving the position, since their seq cannot be trusted. */
  untrustedSeqs: number
  /** Frames with an unknown or deprecated `t` (not published). */
  unknownTypes: number
  /** Events not published because of --types/--collections (their seq still moves the cursor). */
  filteredEvents: number
  /** Commit ops removed by --collections (from published and unpublished commits). */
  filteredOps: number
  infoFrames: number
  /** `#info OutdatedCursor`: the relay no longer had our position; events were lost upstream. */
  outdatedCursor: number
  errorFrames: number
  consumerTooSlow: number
  futureCursor: number
  /** Reconnects because of a run of malformed frames. */
  badFrameReconnects: number
  /** Writes whose CAS found another cursor than ours (Redis lost writes, or a second ingestor). */
  casMismatches: number
  /** Writes found already applied when re-checked (reply lost, or identical write by another ingestor). */
  casAlreadyApplied: number
  /** Failed Redis commands (connection lost, Redis down). */
  redisErrors: number
  /** Times the pipeline dropped its queue and restarted from Redis' cursor. */
  resyncs: number
  /** Frames dropped from the queue by a resync (they are fetched again from the relay). */
  framesRequeued: number
  /** Times the socket was paused because the queue was full. */
  backpressurePauses: number
  /** Times writing stopped because the stream was at --max-len with entries a consumer group has not acknowledged (safe trim). */
  trimBlocked: number
  decodeWorkerFailures: number
  /** --verify: #commit/#sync frames whose signature and MST proofs checked out. */
  verifiedFrames: number
  /** --verify: DID documents fetched over HTTP (PLC, did:web). */
  didFetches: number
  /** --verify: signing keys answered from the DID cache. */
  didCacheHits: number
  /** --verify: DID resolutions retried because the server did not answer usably (outage). */
  didResolveRetries: number
  /** --verify: signatures that failed with a cached key, so the DID was resolved again (key rotation). */
  didKeyRefreshes: number
  /** --verify: resolutions the in-process cache missed and the shared cache in Redis answered (docs/verify.md). */
  didSharedCacheHits: number
  /** --verify: resolutions neither cache held (or held expired): resolved over HTTP. */
  didSharedCacheMisses: number
  /** --verify: shared-cache reads and writes that failed or timed out (Redis down, ACL): resolved over HTTP instead, nothing lost. */
  didSharedCacheErrors: number
  /** --verify: HTTP requests to the PLC directory (a part of didFetches). */
  plcRequests: number
  /** --verify: PLC requests that waited for --plc-rps. */
  plcRateLimitWaits: number
  /** --verify: milliseconds those requests waited in all. */
  plcRateLimitWaitMs: number
  /** Per-repo state (docs/repo-sync.md): #commit at or below its repo's stored rev (already applied) and #sync at or below it. */
  repoStaleRevs: number
  /** Per-repo state: #commit/#sync whose rev is more than 5 minutes ahead (dead-lettered). */
  repoFutureRevs: number
  /** Per-repo state: #commit/#sync whose rev is not a TID (dead-lettered). */
  repoInvalidRevs: number
  /** Per-repo state: #commit/#sync of an account that is not active (not published). */
  repoInactive: number
  /** Per-repo state: commits whose `since` is not the stored rev (the repo is desynchronized). */
  repoDesyncSince: number
  /** Per-repo state: commits whose `prevData` is not the stored MST root (the repo is desynchronized). */
  repoDesyncPrevData: number
  /** Per-repo state: #sync to another MST root, or of a repo without a chain (a resync). */
  repoSyncResyncs: number
  /** Per-repo state: #sync with the stored MST root (its rev stored, nothing published). */
  repoSyncRevOnly: number
  /** Per-repo state: events of a desynchronized repo, dropped (its snapshot, fetched later, covers them). */
  repoDroppedDesynchronized: number
  /** Per-repo state: events held while their repo resyncs. */
  repoHeld: number
  /** Per-repo state: held events past the memory bounds, spilled to Redis (`<stream>:snapshots`) in the write that held them. */
  repoHeldSpilled: number
  /** Per-repo state: held events dropped (the hold bound, or a failed resync) with their repo resynced again, so a later snapshot covers them. */
  repoHeldDropped: number
  /** Per-repo state: held events at or below the snapshot's rev (the snapshot has them). */
  repoHeldCovered: number
  /** Per-repo state: held events published after their repo's snapshot. */
  repoHeldReleased: number
  resyncsStarted: number
  resyncsSucceeded: number
  resyncsFailed: number
  /** Records published in repo snapshots. */
  snapshotRecords: number
  /** Repos a backfill asked for (docs/backfill.md) whose snapshot ended. */
  backfillReposDone: number
  /** Records in those snapshots. */
  backfillRecords: number
}

export function emptyCounters(): IngestorCounters {
  return {
    framesReceived: 0,
    eventsWritten: 0,
    batchesWritten: 0,
    deadLettered: 0,
    skippedKnown: 0,
    belowCursorOnConnect: 0,
    skippedBackwards: 0,
    skippedRepeat: 0,
    seqJumps: 0,
    untrustedSeqs: 0,
    takeoverSkipped: 0,
    unknownTypes: 0,
    filteredEvents: 0,
    filteredOps: 0,
    infoFrames: 0,
    outdatedCursor: 0,
    errorFrames: 0,
    consumerTooSlow: 0,
    futureCursor: 0,
    badFrameReconnects: 0,
    casMismatches: 0,
    casAlreadyApplied: 0,
    redisErrors: 0,
    resyncs: 0,
    framesRequeued: 0,
    backpressurePauses: 0,
    trimBlocked: 0,
    decodeWorkerFailures: 0,
    verifiedFrames: 0,
    didFetches: 0,
    didCacheHits: 0,
    didResolveRetries: 0,
    didKeyRefreshes: 0,
    didSharedCacheHits: 0,
    didSharedCacheMisses: 0,
    didSharedCacheErrors: 0,
    plcRequests: 0,
    plcRateLimitWaits: 0,
    plcRateLimitWaitMs: 0,
    repoStaleRevs: 0,
    repoFutureRevs: 0,
    repoInvalidRevs: 0,
    repoInactive: 0,
    repoDesyncSince: 0,
    repoDesyncPrevData: 0,
    repoSyncResyncs: 0,
    repoSyncRevOnly: 0,
    repoDroppedDesynchronized: 0,
    repoHeld: 0,
    repoHeldSpilled: 0,
    repoHeldDropped: 0,
    repoHeldCovered: 0,
    repoHeldReleased: 0,
    resyncsStarted: 0,
    resyncsSucceeded: 0,
    resyncsFailed: 0,
    snapshotRecords: 0,
    backfillReposDone: 0,
    backfillRecords: 0,
  }
}

/** 'standby': HA on and another ingestor holds the lease; this one waits to take over. */
export type IngestorState = 'standby' | 'starting' | 'running' | 'stopping' | 'stopped'
/** Why the ingestor ended: a stop() call or signal, FutureCursor with --on-future-cursor exit, a fatal error, or (HA) the lease lost to another ingestor or to a Redis outage. */
export type StopReason = 'stop' | 'future-cursor' | 'fatal' | 'lease-lost'

export interface IngestorStatus {
  state: IngestorState
  stoppedBy: StopReason | null
  /** Set when stoppedBy is 'fatal'. */
  error: string | null
  /** The cursor Redis holds as far as we know (last confirmed write or read); with shards the lowest shard cursor. */
  storedCursor: number | null
  /** --shards N > 1: each shard's cursor (index = shard); null without shards. */
  shardCursors: (number | null)[] | null
  /** Highest seq accepted into the pipeline; the cursor used on relay reconnects. */
  position: number | null
  /** now - `time` of the last written event (the relay's clock; old for replayed fixtures). */
  eventLagMs: number | null
  /** now - receive time of the oldest frame not yet written; when none waits, the last written frame's receive-to-ack time. */
  receiveLagMs: number | null
  /** When Redis last acknowledged a write (epoch ms). */
  lastAckAtMs: number | null
  /** Receive time (epoch ms) of the oldest frame received and not yet written; null when none waits. */
  pendingSinceMs: number | null
  /** Entries written and their raw frame bytes, by event type. */
  writtenByType: Record<string, { events: number; bytes: number }>
  /** Dead-lettered frames by decode error code. */
  deadLettersByCode: Record<string, number>
  /** Entries written per second over the last status period. */
  eventsPerSec: number
  queue: { frames: number; bytes: number; maxFrames: number; maxBytes: number; decodedBatches: number }
  relay: {
    connected: boolean
    paused: boolean
    connects: number
    reconnects: number
    bytesReceived: number
    /** Why the relay is failing now (stall, oversized message, refused handshake, socket error); null once frames flow. */
    lastError: string | null
    /** Connections dropped because no frame came for --stall-timeout. */
    stalls: number
    /** Messages over the WebSocket limit; each ends the connection (docs/relay-client.md). */
    oversizedMessages: number
    textMessagesIgnored: number
    /** host[:port] of the relay ingested from now (relay failover: the primary or a fallback). */
    active: string
    /** Switches away from a failing relay (failed connects in a row, or a stall). */
    failovers: number
    /** Switches back to the primary after a probe found it healthy. */
    primaryReturns: number
  }
  /**
   * ready: connected and writes answered; writesFailingForMs: how long writes have failed or gone
   * unanswered (null: they succeed); lastError: why the connection is down (null while it is up).
   */
  redis: { ready: boolean; writesFailingForMs: number | null; lastError: string | null }
  /** Writing is paused: the stream is at --max-len and safe trimming may not remove unacknowledged entries. */
  streamFull: boolean
  /**
   * --repo-state only (null otherwise): repos waiting for a resync, repos being resynced now, events
   * held for them, repos failed and waiting out their backoff, repo states believed in memory; a
   * backfill's counters as last read from Redis (null while none asked for anything).
   */
  repoSync: { pendingResyncs: number; resyncing: number; heldEvents: number; retriesScheduled: number; statesCached: number; backfill: BackfillCounts | null } | null
  /** HA only (null otherwise): whether this ingestor holds the lease, and the holder last seen (this one's token when held). */
  lease: { held: boolean; holder: string | null } | null
  counters: IngestorCounters
}

import { emptyCounters, type IngestorStatus } from '../../ingestor/status.js'

export const NOW = 1_800_000_000_000

/** A running ingestor with a connected relay, a ready Redis and nothing waiting. */
export function running(overrides: Partial<IngestorStatus> = {}): IngestorStatus {
  return {
    state: 'running',
    stoppedBy: null,
    error: null,
    storedCursor: 41,
    shardCursors: null,
    position: 42,
    eventLagMs: 90_000_000,
    receiveLagMs: 12,
    lastAckAtMs: NOW - 60_000,
    pendingSinceMs: null,
    writtenByType: { commit: { events: 40, bytes: 88_000 }, identity: { events: 1, bytes: 300 } },
    deadLettersByCode: { UnexpectedEnd: 2 },
    eventsPerSec: 0,
    queue: { frames: 0, bytes: 0, maxFrames: 10_000, maxBytes: 64 << 20, decodedBatches: 0 },
    relay: {
      connected: true,
      paused: false,
      connects: 1,
      reconnects: 0,
      bytesReceived: 90_000,
      lastError: null,
      stalls: 0,
      oversizedMessages: 0,
      textMessagesIgnored: 0,
      active: 'relay.example',
      failovers: 0,
      primaryReturns: 0,
    },
    redis: { ready: true, writesFailingForMs: null, lastError: null },
    streamFull: false,
    lease: null,
    repoSync: null,
    counters: emptyCounters(),
    ...overrides,
  }
}

import type { Timers } from '../common/timers.js'
import type { Logger } from '../common/logger.js'
import type { FaultSpec } from './faults.js'
import type { RepoResetRecord } from './repo-resets.js'
import type { SyncFaultRecord } from './sync-faults.js'

/** How fast the timeline publishes frames. */
export type ReplayRate = { mode: 'rate'; eventsPerSec: number } | { mode: 'speed'; multiplier: number } | { mode: 'original' } | { mode: 'max' }

export interface ReplayOptions {
  /** Fixture files, played in order (rotated recordings: NAME.000.gz, NAME.001.gz, ...). */
  files: string[]
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  /** Default `{ mode: 'max' }`. */
  rate?: ReplayRate
  /** Play the files again and again, each round's seqs shifted past the previous round's. */
  loop?: boolean
  /** When the timeline starts: at once (default), on resume(), or when the first client subscribes. */
  start?: 'paused' | 'now' | 'first-client'
  /** Frames kept for cursor replays (default 100,000; also capped at 256 MiB). */
  window?: number
  /** Frames published but not yet sent that one client may owe before ConsumerTooSlow (default 16,384 like the relay). */
  outbox?: number
  /** Max mode stops waiting for a client whose socket has not drained for this long; its outbox then overflows (default 10,000). */
  stuckAfterMs?: number
  /** Mimic the Go relay: future cursor goes live silently, bad cursor is HTTP 400, no OutdatedCursor frame. */
  relayQuirks?: boolean
  faults?: FaultSpec[]
  /** Seed for fault ranges and garbage bytes (default: fresh, reported in status). */
  seed?: number
  logger?: Logger
  /** Fixtures totalling at most this many frame bytes are kept in memory after the start-up check (default 256 MiB; 0 = always stream from disk). */
  preloadMaxBytes?: number
  /** Server ping interval; a client that has not answered the previous ping is dropped (default 30,000 like the relay). */
  pingIntervalMs?: number
  /** Connected clients at most (default 256); a WebSocket upgrade beyond is answered 503 and counted in `clientsRefused`. */
  maxClients?: number
  /**
   * The clock and timers the timeline paces publishing by (rate, speed and original modes) and
   * measures `achievedEventsPerSec` on. Default: the process' own, on its monotonic clock. Tests
   * pass fake ones and publish by moving time; client sockets stay real.
   */
  pacingTimers?: Timers
  /**
   * The secp256k1 private key a DID's commits are signed with, for the commits the sync-reset and
   * sync-storm faults make (a generated fixture's: generator/identity.ts createIdentity(seed, i)
   * for i below the manifest meta's `accounts`). Default: none, and those commits are signed with
   * a key of the replay's own (they do not verify against the DID document).
   */
  signingKeys?: (did: string) => Uint8Array | undefined
}

export interface ReplayHandle {
  /** ws://host:port/xrpc/com.atproto.sync.subscribeRepos */
  url: string
  /** http://host:port (control endpoints under /_replay/, sync XRPC endpoints under /xrpc/). */
  httpUrl: string
  /** http://host:port/plc: the PLC directory of the fixtures' DIDs (a did:plc resolver's plcUrl). */
  plcUrl: string
  /** DID documents that PLC directory serves (0 for fixtures without a `.did-docs.json`, e.g. recordings). */
  didDocuments: number
  status(): ReplayStatus
  setRate(rate: ReplayRate): void
  pause(): void
  resume(): void
  injectFault(fault: FaultSpec): void
  close(): Promise<void>
}

export interface FaultRecord {
  kind: string
  /** The client's framesSent when the fault took effect (its position in what it received). */
  atFrame: number
  /** Seqs swallowed, duplicated, truncated or regressed by this fault; for repo faults the seqs of the frames they rewrote or inserted (docs/replay.md); empty for connection faults and other inserted frames. */
  seqs: number[]
}

export interface ClientStatus {
  id: number
  remote: string
  connected: boolean
  cursorAsked: number | null
  framesSent: number
  lastSeqSent: number | null
  faults: FaultRecord[]
  /**
   * The session holds a full send buffer (512 KiB) and sends nothing more until the socket
   * drains: the client reads slower than frames come. Extra field, not in the original contract.
   */
  waitingForDrain: boolean
  /** How the connection ended (null while open). Extra field, not in the original contract. */
  closeCode: number | null
  closeReason: string | null
}

export interface ReplayStatus {
  /** Highest seq published so far. */
  headSeq: number | null
  framesPublished: number
  /** Fixture exhausted (never true when looping). */
  finished: boolean
  paused: boolean
  rate: ReplayRate
  achievedEventsPerSec: number
  clients: ClientStatus[]
  /** Extra fields, not in the original contract. */
  seed: number
  window: { oldestSeq: number | null; frames: number; bytes: number }
  handshakesRefused: { atFrame: number; status: number; retryAfterSec: number | null }[]
  maxClients: number
  /** WebSocket upgrades refused with 503 because maxClients were connected. */
  clientsRefused: number
  /** The repos of the published frames behind the sync endpoints (docs/replay.md "Sync endpoints"). */
  repos: {
    /** DIDs indexed (with a commit or only #account frames). */
    indexed: number
    /** Repos with a commit that getRepo cannot export (seen mid-history, or dropped over the bound). */
    unexportable: number
    /** Repo block bytes held only by the index (bound REPO_OWN_MAX_BYTES). */
    ownBytes: number
  }
  /** getRepo requests a sync fault changed, the last 1,000. */
  syncFaults: SyncFaultRecord[]
  /** getRepo requests being answered now, and the most ever answered at once (a resync storm's load on one PDS). */
  getRepo: { inFlight: number; maxInFlight: number; requests: number }
  /** Repos a sync-reset or sync-storm reset, the last 1,000. */
  repoResets: RepoResetRecord[]
}

export const SUBSCRIBE_PATH = '/xrpc/com.atproto.sync.subscribeRepos'
/** Each client may hold 512 KiB of unsent frames: 256 of them are 128 MiB at most. */
export const DEFAULT_MAX_CLIENTS = 256

import type { RelayClient, RelayClientStats } from '../client/relay-client.js'
import type { Logger } from '../common/logger.js'
import { probeRelay } from './relay-probe.js'
import type { RelayEndpoint } from './relay-endpoints.js'

/**
 * When to leave the current relay: `failoverAfter` connection attempts in a row that delivered
 * no frame, or one stall. Sockets are not its business, so units test it alone. One relay
 * (no fallback) never moves.
 */
export class FailoverPolicy {
  private current = 0
  private failedConnects = 0

  constructor(
    private readonly relays: number,
    private readonly failoverAfter: number,
  ) {}

  get index(): number {
    return this.current
  }

  /** The relay to move to on failure: the next one in the list, wrapping round to the primary. */
  get next(): number {
    return (this.current + 1) % this.relays
  }

  /** A connection (or a connect attempt) ended; returns why to move on, or null to retry the same relay. */
  connectionEnded(deliveredFrames: boolean, stalled: boolean): string | null {
    if (this.relays < 2) return null
    if (stalled) return 'stalled'
    if (deliveredFrames) {
      this.failedConnects = 0
      return null
    }
    if (++this.failedConnects < this.failoverAfter) return null
    return `${this.failedConnects} failed connects in a row`
  }

  moveTo(index: number): void {
    this.current = index
    this.failedConnects = 0
  }
}

export interface RelayFailoverOptions {
  relays: readonly RelayEndpoint[]
  failoverAfter: number
  /** While on a fallback, probe the primary this often. */
  probeIntervalMs: number
  /** A probe must deliver a frame within this. */
  probeTimeoutMs: number
  maxPayloadBytes: number
  /** A client for one relay, wired to the pipeline (not started). */
  createClient: (relay: RelayEndpoint) => RelayClient
  /** Drops the old relay's unwritten frames and loads the new relay's cursor (Pipeline.switchRelay). */
  switchCursor: (relay: RelayEndpoint) => Promise<{ stored: number | null; dropped: number }>
  /** A relay's stored cursor (the probe asks the primary for events after it). */
  storedCursor: (relay: RelayEndpoint) => Promise<number | null>
  /** A switch failed in a way retrying cannot fix (a bad stored cursor, a Redis configuration error). */
  onFatal: (err: unknown) => void
  logger: Logger
}

/** Client counters summed over the clients of earlier relays, so status counters never go down. */
const SUMMED = ['connects', 'reconnects', 'framesReceived', 'bytesReceived', 'textMessagesIgnored', 'stalls', 'oversizedMessages'] as const

/**
 * Owns the relay list and the one live RelayClient: counts failed connects and stalls per
 * relay (FailoverPolicy), moves to the next relay, and while on a fallback probes the primary
 * and goes back to it once healthy. A switch closes the old client first, so no frame of the
 * old relay can arrive after the pipeline has moved to the new relay's cursor key.
 */
export class RelayFailover {
  private readonly policy: FailoverPolicy
  private readonly logger: Logger
  private client: RelayClient
  private readonly retired: Record<(typeof SUMMED)[number], number> = { connects: 0, reconnects: 0, framesReceived: 0, bytesReceived: 0, textMessagesIgnored: 0, stalls: 0, oversizedMessages: 0 }
  private switching = false
  private closed = false
  private probeTimer: NodeJS.Timeout | null = null
  private probing = false
  private readonly switches = { failover: 0, return: 0 }

  constructor(private readonly options: RelayFailoverOptions) {
    this.policy = new FailoverPolicy(options.relays.length, options.failoverAfter)
    this.logger = options.logger.child({ component: 'relay-failover' })
    this.client = this.connectTo(options.relays[0]!)
  }

  get current(): RelayEndpoint {
    return this.options.relays[this.policy.index]!
  }

  /** Switches away from a failing relay. */
  get failovers(): number {
    return this.switches.failover
  }

  /** Switches back to the primary after a successful probe. */
  get primaryReturns(): number {
    return this.switches.return
  }

  get stats(): RelayClientStats {
    const stats = this.client.stats
    for (const key of SUMMED) stats[key] += this.retired[key]
    return stats
  }

  start(): void {
    this.client.start()
  }

  async close(): Promise<void> {
    this.closed = true
    this.stopProbing()
    await this.client.close()
  }

  private connectTo(relay: RelayEndpoint): RelayClient {
    const client = this.options.createClient(relay)
    let frames = 0
    let stalls = 0
    client.on('close', (event: { willReconnect: boolean }) => {
      if (!event.willReconnect || client !== this.client || this.switching) return
      const stats = client.stats
      const reason = this.policy.connectionEnded(stats.framesReceived > frames, stats.stalls > stalls)
      frames = stats.framesReceived
      stalls = stats.stalls
      if (reason !== null) void this.switchTo(this.policy.next, `${relay.label} ${reason}`, 'failover')
    })
    return client
  }

  private async switchTo(index: number, reason: string, kind: 'failover' | 'return'): Promise<void> {
    if (this.switching || this.closed) return
    this.switching = true
    const from = this.current
    const to = this.options.relays[index]!
    const startedMs = Date.now()
    try {
      const old = this.client
      await old.close() // from here on no frame of the old relay reaches the pipeline
      for (const key of SUMMED) this.retired[key] += old.stats[key]
      if (this.closed) return
      const { stored, dropped } = await this.options.switchCursor(to)
      if (this.closed) return
      this.policy.moveTo(index)
      this.switches[kind]++
      this.logger.warn(
        { from: from.label, to: to.label, reason, cursorKey: to.cursorKey, cursor: stored ?? 'none (live tail)', droppedFrames: dropped, switchMs: Date.now() - startedMs },
        kind === 'failover' ? 'relay failover: moving to the next relay' : 'relay failover: back to the primary relay',
      )
      this.client = this.connectTo(to)
      this.client.start()
      if (index === 0) this.stopProbing()
      else this.startProbing()
    } catch (err) {
      this.options.onFatal(err)
    } finally {
      this.switching = false
    }
  }

  private startProbing(): void {
    if (this.probeTimer !== null) return
    this.probeTimer = setInterval(() => void this.probePrimary(), this.options.probeIntervalMs)
  }

  private stopProbing(): void {
    if (this.probeTimer !== null) clearInterval(this.probeTimer)
    this.probeTimer = null
  }

  private async probePrimary(): Promise<void> {
    if (this.probing || this.switching || this.closed || this.policy.index === 0) return
    this.probing = true
    const primary = this.options.relays[0]!
    try {
      const cursor = await this.options.storedCursor(primary)
      const result = await probeRelay(primary.url, cursor, this.options.probeTimeoutMs, this.options.maxPayloadBytes)
      this.logger.debug({ relay: primary.label, cursor, ...result }, 'probed the primary relay')
      if (result.ok && this.policy.index !== 0) await this.switchTo(0, `probe of ${primary.label} ${result.detail}`, 'return')
    } catch (err) {
      // Redis unreachable for the cursor read: try again next interval.
      this.logger.debug({ err: { message: (err as Error).message } }, 'could not probe the primary relay')
    } finally {
      this.probing = false
    }
  }
}
